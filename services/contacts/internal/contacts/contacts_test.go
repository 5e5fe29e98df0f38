package contacts_test

import (
	"errors"
	"testing"

	"amancair.dev/pkg/validation"
	"amancair.dev/services/contacts/internal/contacts"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     contacts.Input
		fields []string
		want   contacts.Contact
	}{
		{name: "blueprint example",
			in:   contacts.Input{ContactName: ptr("Siti"), ContactPhone: ptr("+628111222333"), Relation: ptr("spouse"), IsPrimary: ptr(true)},
			want: contacts.Contact{UserID: 1, Name: "Siti", Phone: "+628111222333", Relation: "spouse", IsPrimary: true}},
		{name: "local phone, no relation, not primary",
			in:   contacts.Input{ContactName: ptr(" Agus "), ContactPhone: ptr("0811-1222-333")},
			want: contacts.Contact{UserID: 1, Name: "Agus", Phone: "+628111222333"}},
		{name: "nothing", in: contacts.Input{}, fields: []string{"contact_name", "contact_phone"}},
		{name: "unknown relation", in: contacts.Input{ContactName: ptr("Siti"), ContactPhone: ptr("+628111222333"), Relation: ptr("neighbour")}, fields: []string{"relation"}},
		{name: "foreign phone", in: contacts.Input{ContactName: ptr("Siti"), ContactPhone: ptr("+6591234567")}, fields: []string{"contact_phone"}},
		{name: "name of digits", in: contacts.Input{ContactName: ptr("123"), ContactPhone: ptr("+628111222333")}, fields: []string{"contact_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.in.Validate(1)
			if tt.fields == nil {
				if err != nil || got != tt.want {
					t.Errorf("Validate = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var verrs validation.Errors
			if !errors.As(err, &verrs) || len(verrs) != len(tt.fields) {
				t.Fatalf("Validate error = %v, want errors on %v", err, tt.fields)
			}
			for i, f := range tt.fields {
				if verrs[i].Field != f {
					t.Errorf("error %d on %s, want %s", i, verrs[i].Field, f)
				}
			}
		})
	}
}
