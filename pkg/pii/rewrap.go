package pii

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/transit"
)

// RewrapResult counts what Rewrap re-wrapped.
type RewrapResult struct {
	Version   int // the transit key version everything is now wrapped under
	DataKeys  int
	IndexKeys int
}

// Rewrap re-wraps every stored key (per-user data keys and the blind-index key)
// that is not yet under the transit key's latest version. Vault re-encrypts the
// wrapped keys itself, so no plaintext key — let alone personal data — passes
// through here. It works in batches, each row updated only if it is still what was
// read, so it is resumable and safe while the service serves (a key destroyed
// meanwhile simply stays destroyed).
func Rewrap(ctx context.Context, pool *pgxpool.Pool, engine *transit.Engine, keyName string, batch int) (RewrapResult, error) {
	info, err := engine.ReadKey(ctx, keyName)
	if err != nil {
		return RewrapResult{}, err
	}
	res := RewrapResult{Version: info.Latest}
	current := "vault:v" + strconv.Itoa(info.Latest) + ":%"
	for _, t := range []struct {
		table, id string
		count     *int
	}{{"data_keys", "user_id", &res.DataKeys}, {"index_keys", "version", &res.IndexKeys}} {
		after := int64(-1)
		for {
			rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT %[1]s, wrapped FROM %[2]s
				WHERE wrapped NOT LIKE $1 AND %[1]s > $2 ORDER BY %[1]s LIMIT $3`, t.id, t.table), current, after, batch)
			if err != nil {
				return res, err
			}
			type row struct {
				id      int64
				wrapped string
			}
			todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				return x, r.Scan(&x.id, &x.wrapped)
			})
			if err != nil {
				return res, err
			}
			if len(todo) == 0 {
				break
			}
			old := make([]string, len(todo))
			for i, r := range todo {
				old[i] = r.wrapped
			}
			fresh, err := engine.Rewrap(ctx, keyName, old)
			if err != nil {
				return res, err
			}
			for i, r := range todo {
				tag, err := pool.Exec(ctx, fmt.Sprintf(`UPDATE %s SET wrapped = $1 WHERE %s = $2 AND wrapped = $3`, t.table, t.id),
					fresh[i], r.id, r.wrapped)
				if err != nil {
					return res, err
				}
				*t.count += int(tag.RowsAffected())
			}
			after = todo[len(todo)-1].id
		}
	}
	return res, nil
}
