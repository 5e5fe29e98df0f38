// Package postgres stores devices in the device service's PostgreSQL schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/device/internal/device"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the migration files at their root, as goose expects.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at compile time
	}
	return sub
}

// Devices implements device.Repository; changes and staff reads write their
// events to the outbox in the same transaction.
type Devices struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

// NewDevices returns the repository over pool, writing events to outbox.
func NewDevices(pool *pgxpool.Pool, outbox *events.Outbox) *Devices {
	return &Devices{pool: pool, outbox: outbox}
}

// forOther checks, when the caller acts for someone else (staff), that identity
// knows the user, and returns whether it is someone else.
func forOther(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	if c, ok := auth.CallerFrom(ctx); ok && c.UserID == userID {
		return false, nil
	}
	known, err := events.Known(ctx, tx, userID)
	if err != nil {
		return true, err
	}
	if !known {
		return true, device.ErrUnknownUser
	}
	return true, nil
}

// Erase deletes an erased user's devices; the user-events consumer calls it.
func Erase(ctx context.Context, tx pgx.Tx, userID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM devices WHERE user_id = $1`, userID)
	return err
}

const deviceColumns = `id, user_id, coalesce(imei, ''), coalesce(android_id, ''), coalesce(advertising_id, ''),
	coalesce(sim_serial, ''), coalesce(device_model, ''), coalesce(os_version, ''), registered_at`

// Register inserts the device, or returns the user's existing device with one of
// its identifiers. A per-user transaction lock makes concurrent registrations of
// the same phone agree on one row.
func (d *Devices) Register(ctx context.Context, r device.Registration) (device.Device, bool, error) {
	var (
		dev     device.Device
		created bool
	)
	err := pgpkg.Tx(ctx, d.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('device.user', $1))`, r.UserID); err != nil {
			return err
		}
		if _, err := forOther(ctx, tx, r.UserID); err != nil {
			return err
		}
		existing, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices
			WHERE user_id = $1 AND (imei = $2 OR android_id = $3 OR advertising_id = $4)
			ORDER BY id LIMIT 1`, r.UserID, r.IMEI, r.AndroidID, r.AdvertisingID))
		if err == nil {
			dev = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		dev, err = scanDevice(tx.QueryRow(ctx, `
			INSERT INTO devices (user_id, imei, android_id, advertising_id, sim_serial, device_model, os_version)
			VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''))
			RETURNING `+deviceColumns,
			r.UserID, r.IMEI, r.AndroidID, r.AdvertisingID, r.SIMSerial, r.Model, r.OSVersion))
		if err != nil {
			return err
		}
		created = true
		return d.outbox.Append(ctx, tx, events.Event{Type: "device.registered", SubjectUserID: r.UserID,
			Fields: deviceFields(dev), Refs: map[string]int64{"device_id": dev.ID}})
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "devices_imei_key" {
		return device.Device{}, false, device.ErrIMEITaken
	}
	if errors.Is(err, device.ErrUnknownUser) {
		return device.Device{}, false, err
	}
	if err != nil {
		return device.Device{}, false, fmt.Errorf("register device: %w", err)
	}
	return dev, created, nil
}

// List returns the user's devices the caller may see, oldest first.
func (d *Devices) List(ctx context.Context, userID int64) ([]device.Device, error) {
	var list []device.Device
	err := pgpkg.Tx(ctx, d.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		other, err := forOther(ctx, tx, userID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY id`, userID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (device.Device, error) { return scanDevice(row) })
		if err != nil || !other {
			return err
		}
		return d.outbox.Append(ctx, tx, events.Event{Type: "device.viewed", SubjectUserID: userID})
	})
	if errors.Is(err, device.ErrUnknownUser) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return list, nil
}

// deviceFields names the identifiers and details a new device has.
func deviceFields(d device.Device) []string {
	var fields []string
	for name, v := range map[string]string{"imei": d.IMEI, "android_id": d.AndroidID, "advertising_id": d.AdvertisingID,
		"sim_serial": d.SIMSerial, "device_model": d.Model, "os_version": d.OSVersion} {
		if v != "" {
			fields = append(fields, name)
		}
	}
	slices.Sort(fields)
	return fields
}

func scanDevice(row pgx.Row) (device.Device, error) {
	var d device.Device
	err := row.Scan(&d.ID, &d.UserID, &d.IMEI, &d.AndroidID, &d.AdvertisingID, &d.SIMSerial, &d.Model, &d.OSVersion, &d.RegisteredAt)
	return d, err
}
