package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/testenv"
	"amancair.dev/services/contacts/internal/contacts"
	"amancair.dev/services/contacts/internal/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestContactsRepository(t *testing.T) {
	t.Parallel()
	pool, adminURL, keys := testenv.MigratedPool(t, "contacts", postgres.Migrations(), events.KnownUsersDDL)
	repo := postgres.NewContacts(pool, events.NewOutbox("contacts", "test"), keys)
	as := func(id int64, roles ...string) context.Context {
		return auth.WithCaller(context.Background(), auth.Caller{UserID: id, Roles: append(roles, auth.RoleCustomer)})
	}
	first, err := repo.Add(as(1), contacts.Contact{UserID: 1, Name: "Siti", Phone: "+628111222333", Relation: "spouse", IsPrimary: true})
	if err != nil {
		t.Fatal(err)
	}
	second, err := repo.Add(as(1), contacts.Contact{UserID: 1, Name: "Agus", Phone: "+628111222334", IsPrimary: true})
	if err != nil {
		t.Fatal(err)
	}
	list, err := repo.List(as(1), 1)
	if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].IsPrimary {
		t.Errorf("List = %+v, %v; want the newer primary first and one primary", list, err)
	}
	if _, err := repo.Add(as(1), contacts.Contact{UserID: 1, Name: "X", Phone: "+628111222333"}); !errors.Is(err, contacts.ErrDuplicatePhone) {
		t.Errorf("duplicate phone: %v", err)
	}
	if _, err := repo.Replace(as(2), contacts.Contact{ID: first.ID, UserID: 1, Name: "Hacked", Phone: "+628111222399"}); err == nil {
		t.Error("row-level security let user 2 replace user 1's contact")
	}
	if err := repo.Remove(as(2), 1, first.ID); err == nil {
		t.Errorf("user 2 removing user 1's contact: %v, want ErrNotFound", err)
	}
	if list, _ := repo.List(as(2), 1); len(list) != 0 {
		t.Errorf("user 2 sees %d of user 1's contacts through the database", len(list))
	}
	testenv.AssertHiddenWithoutCaller(t, pool, adminURL, "contacts.emergency_contacts")
}
