// Package postgres stores devices in the device service's PostgreSQL schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/pii"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/pkg/transit"
	"amancair.dev/services/device/internal/device"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema's goose migrations.
func Migrations() fs.FS { return pgpkg.MigrationFiles(migrations) }

// Devices implements device.Repository. Identifiers are stored encrypted under
// the user's data key and found through blind indexes; changes and staff reads
// write their events to the outbox in the same transaction.
type Devices struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
	keys   *pii.Keyring
}

// NewDevices returns the repository over pool, encrypting with keys and writing
// events to outbox.
func NewDevices(pool *pgxpool.Pool, outbox *events.Outbox, keys *pii.Keyring) *Devices {
	return &Devices{pool: pool, outbox: outbox, keys: keys}
}

const deviceColumns = `id, user_id, imei_enc, android_id_enc, advertising_id_enc, sim_serial_enc,
	coalesce(device_model, ''), coalesce(os_version, ''), registered_at`

// Blind-index purposes.
const (
	imeiIndex          = "devices.imei"
	androidIDIndex     = "devices.android_id"
	advertisingIDIndex = "devices.advertising_id"
)

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
		if _, err := actingFor(ctx, tx, r.UserID); err != nil {
			return err
		}
		ix, err := d.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		c, err := d.keys.CipherOrCreate(ctx, tx, r.UserID)
		if err != nil {
			return err
		}
		imei, androidID, adID := ix.Of(imeiIndex, r.IMEI), ix.Of(androidIDIndex, r.AndroidID), ix.Of(advertisingIDIndex, r.AdvertisingID)
		existing, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices
			WHERE user_id = $1 AND (imei_bidx = $2 OR android_id_bidx = $3 OR advertising_id_bidx = $4)
			ORDER BY id LIMIT 1`, r.UserID, imei, androidID, adID), c)
		if err == nil {
			dev = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('devices', 'id'))`).Scan(&id); err != nil {
			return err
		}
		dev, err = scanDevice(tx.QueryRow(ctx, `
			INSERT INTO devices (id, user_id, imei_enc, android_id_enc, advertising_id_enc, sim_serial_enc, device_model, os_version,
				imei_bidx, android_id_bidx, advertising_id_bidx)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), $9, $10, $11)
			RETURNING `+deviceColumns,
			id, r.UserID, c.Seal(r.IMEI, "devices", "imei", id), c.Seal(r.AndroidID, "devices", "android_id", id),
			c.Seal(r.AdvertisingID, "devices", "advertising_id", id), c.Seal(r.SIMSerial, "devices", "sim_serial", id),
			r.Model, r.OSVersion, imei, androidID, adID), c)
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
	if err != nil {
		return device.Device{}, false, passDomain(err, "register device")
	}
	return dev, created, nil
}

// List returns the user's devices the caller may see, oldest first.
func (d *Devices) List(ctx context.Context, userID int64) ([]device.Device, error) {
	var list []device.Device
	err := pgpkg.Tx(ctx, d.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		other, err := actingFor(ctx, tx, userID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY id`, userID)
		if err != nil {
			return err
		}
		raws, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rawDevice, error) {
			var r rawDevice
			return r, r.scan(row)
		})
		if err != nil || len(raws) == 0 {
			return err
		}
		c, err := d.keys.Cipher(ctx, tx, userID)
		if err != nil {
			return err
		}
		for _, r := range raws {
			dev, err := r.decrypt(c)
			if err != nil {
				return err
			}
			list = append(list, dev)
		}
		if !other {
			return nil
		}
		return d.outbox.Append(ctx, tx, events.Event{Type: "device.viewed", SubjectUserID: userID})
	})
	if err != nil {
		return nil, passDomain(err, "list devices")
	}
	return list, nil
}

// passDomain returns domain and Vault errors as they are, wrapping the rest.
func passDomain(err error, op string) error {
	if errors.Is(err, device.ErrUnknownUser) || transit.IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
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

// rawDevice is a devices row as stored: identifiers still encrypted.
type rawDevice struct {
	id, userID                       int64
	imei, androidID, adID, simSerial []byte
	model, osVersion                 string
	registeredAt                     time.Time
}

func (r *rawDevice) scan(row pgx.Row) error {
	return row.Scan(&r.id, &r.userID, &r.imei, &r.androidID, &r.adID, &r.simSerial, &r.model, &r.osVersion, &r.registeredAt)
}

func (r rawDevice) decrypt(c *pii.Cipher) (device.Device, error) {
	d := device.Device{ID: r.id, UserID: r.userID, Model: r.model, OSVersion: r.osVersion, RegisteredAt: r.registeredAt}
	for _, f := range []struct {
		ct     []byte
		column string
		dst    *string
	}{{r.imei, "imei", &d.IMEI}, {r.androidID, "android_id", &d.AndroidID}, {r.adID, "advertising_id", &d.AdvertisingID}, {r.simSerial, "sim_serial", &d.SIMSerial}} {
		v, err := c.Open(f.ct, "devices", f.column, r.id)
		if err != nil {
			return device.Device{}, fmt.Errorf("devices.%s of %d: %w", f.column, r.id, err)
		}
		*f.dst = v
	}
	return d, nil
}

func scanDevice(row pgx.Row, c *pii.Cipher) (device.Device, error) {
	var r rawDevice
	if err := r.scan(row); err != nil {
		return device.Device{}, err
	}
	return r.decrypt(c)
}

// actingFor reports whether a staff caller acts for someone else, refusing users
// identity does not know.
func actingFor(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	other, known, err := events.ActingFor(ctx, tx, userID)
	if err == nil && !known {
		err = device.ErrUnknownUser
	}
	return other, err
}
