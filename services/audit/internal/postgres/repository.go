// Package postgres stores the audit trail in the audit service's schema.
package postgres

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/audit/internal/audit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema's goose migrations.
func Migrations() fs.FS { return pgpkg.MigrationFiles(migrations) }

// Trail implements audit.Repository.
type Trail struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

// NewTrail returns the repository over pool; checkpoints are also published as
// events through outbox, so a copy lives outside the database.
func NewTrail(pool *pgxpool.Pool, outbox *events.Outbox) *Trail {
	return &Trail{pool: pool, outbox: outbox}
}

// CheckpointEvent is the event type that carries a checkpoint out of the database.
const CheckpointEvent = "chain.checkpointed"

const entryColumns = `seq, event_id::text, type, service, actor_id, actor_roles, subject_user_id, occurred_at,
	coalesce(trace_id, ''), coalesce(client_ip, ''), fields, refs, attrs, prev_hash, hash`

// chainLock serialises appends across audit replicas, so each row follows the
// one before it whoever wrote it.
const chainLock = 0x61756469744c6f67 // "auditLog"

// Append adds the batch's new events at the end of the chain in one transaction.
// Events already in the trail (redelivered, or relayed twice) are skipped: the
// unique event id is the consumer's inbox.
func (t *Trail) Append(ctx context.Context, batch []events.CloudEvent) (int, error) {
	added := 0
	err := pgpkg.Tx(ctx, t.pool, pgpkg.PurposeSystem, func(tx pgx.Tx) error {
		added = 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(chainLock)); err != nil {
			return err
		}
		ids := make([]string, len(batch))
		for i, ce := range batch {
			ids[i] = ce.ID
		}
		seen := map[string]bool{}
		rows, err := tx.Query(ctx, `SELECT event_id::text FROM audit_log WHERE event_id = ANY($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			seen[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		prevSeq, prevHash := int64(0), audit.GenesisHash
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prevHash)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		inserts := &pgx.Batch{}
		for _, ce := range batch {
			if seen[ce.ID] {
				continue
			}
			seen[ce.ID] = true
			e := audit.FromEvent(ce)
			e.Chain(prevSeq, prevHash)
			inserts.Queue(`INSERT INTO audit_log (seq, event_id, type, service, actor_id, actor_roles,
				subject_user_id, occurred_at, trace_id, client_ip, fields, refs, attrs, prev_hash, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), NULLIF($10, ''), $11, $12, $13, $14, $15)`,
				e.Seq, e.EventID, e.Type, e.Service, e.ActorID, e.ActorRoles, e.SubjectUserID, e.OccurredAt,
				e.TraceID, e.ClientIP, e.Fields, e.Refs, e.Attrs, e.PrevHash, e.Hash)
			prevSeq, prevHash = e.Seq, e.Hash
			added++
		}
		// One round trip for the whole batch.
		return tx.SendBatch(ctx, inserts).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("append to audit trail: %w", err)
	}
	return added, nil
}

// List returns entries matching f, newest first.
func (t *Trail) List(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	where, args := []string{"true"}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.SubjectUserID > 0 {
		add("subject_user_id = $%d", f.SubjectUserID)
	}
	if f.ActorID > 0 {
		add("actor_id = $%d", f.ActorID)
	}
	if f.Type != "" {
		add("type = $%d", f.Type)
	}
	if !f.Since.IsZero() {
		add("occurred_at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("occurred_at < $%d", f.Until)
	}
	if f.Before > 0 {
		add("seq < $%d", f.Before)
	}
	args = append(args, f.Limit)
	query := `SELECT ` + entryColumns + ` FROM audit_log WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d`, len(args))
	var list []audit.Entry
	err := pgpkg.Tx(ctx, t.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Entry, error) { return scanEntry(row) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit trail: %w", err)
	}
	return list, nil
}

// Walk streams every entry in seq order.
func (t *Trail) Walk(ctx context.Context, fn func(audit.Entry) bool) error {
	return pgpkg.Tx(ctx, t.pool, pgpkg.PurposeAdmin, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_log ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEntry(rows)
			if err != nil {
				return err
			}
			if !fn(e) {
				return nil
			}
		}
		return rows.Err()
	})
}

// Head returns the last entry's seq and hash.
func (t *Trail) Head(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := pgpkg.Tx(ctx, t.pool, pgpkg.PurposeSystem, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return seq, hash, err
}

// Checkpoints returns every checkpoint, oldest first.
func (t *Trail) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	var cps []audit.Checkpoint
	err := pgpkg.Tx(ctx, t.pool, pgpkg.PurposeSystem, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, hash, key_version, signature FROM audit_checkpoints ORDER BY seq`)
		if err != nil {
			return err
		}
		cps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Checkpoint, error) {
			var c audit.Checkpoint
			return c, row.Scan(&c.Seq, &c.Hash, &c.KeyVersion, &c.Signature)
		})
		return err
	})
	return cps, err
}

// AddCheckpoint stores a checkpoint and, in the same transaction, its event,
// which the relay publishes to the deny-delete stream; one for a seq already
// checkpointed (another replica was quicker) is dropped.
func (t *Trail) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	return pgpkg.Tx(ctx, t.pool, pgpkg.PurposeSystem, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, key_version, signature) VALUES ($1, $2, $3, $4)
			ON CONFLICT (seq) DO NOTHING`, c.Seq, c.Hash, c.KeyVersion, c.Signature)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return t.outbox.Append(ctx, tx, events.Event{Type: CheckpointEvent,
			Refs:  map[string]int64{"seq": c.Seq, "key_version": int64(c.KeyVersion)},
			Attrs: map[string]string{"hash": hex.EncodeToString(c.Hash), "signature": base64.StdEncoding.EncodeToString(c.Signature)}})
	})
}

// HashAt returns the hash of entry seq, or nil if there is none.
func (t *Trail) HashAt(ctx context.Context, seq int64) ([]byte, error) {
	var hash []byte
	err := pgpkg.Tx(ctx, t.pool, pgpkg.PurposeSystem, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, seq).Scan(&hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return hash, err
}

func scanEntry(row pgx.Row) (audit.Entry, error) {
	var e audit.Entry
	err := row.Scan(&e.Seq, &e.EventID, &e.Type, &e.Service, &e.ActorID, &e.ActorRoles, &e.SubjectUserID, &e.OccurredAt,
		&e.TraceID, &e.ClientIP, &e.Fields, &e.Refs, &e.Attrs, &e.PrevHash, &e.Hash)
	return e.Normalize(), err
}
