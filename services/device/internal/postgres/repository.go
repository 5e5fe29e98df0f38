// Package postgres stores devices in the device service's PostgreSQL schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// Devices implements device.Repository.
type Devices struct{ pool *pgxpool.Pool }

// NewDevices returns the repository over pool.
func NewDevices(pool *pgxpool.Pool) *Devices { return &Devices{pool: pool} }

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
		created = err == nil
		return err
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "devices_imei_key" {
		return device.Device{}, false, device.ErrIMEITaken
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
		rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY id`, userID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (device.Device, error) { return scanDevice(row) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return list, nil
}

func scanDevice(row pgx.Row) (device.Device, error) {
	var d device.Device
	err := row.Scan(&d.ID, &d.UserID, &d.IMEI, &d.AndroidID, &d.AdvertisingID, &d.SIMSerial, &d.Model, &d.OSVersion, &d.RegisteredAt)
	return d, err
}
