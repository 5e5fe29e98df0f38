package identity_test

import (
	"errors"
	"testing"
	"time"

	"amancair.dev/pkg/validation"
	"amancair.dev/services/identity/internal/identity"
)

func ptr(s string) *string { return &s }

var now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func TestValidateAcceptsAndNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   identity.RegistrationInput
		want identity.Registration
	}{
		{
			name: "blueprint example",
			in:   identity.RegistrationInput{Name: ptr("Budi"), Phone: ptr("+628123456789"), Email: ptr("budi@example.com")},
			want: identity.Registration{Name: "Budi", Phone: "+628123456789", Email: "budi@example.com"},
		},
		{
			name: "local phone, padded name, upper-case email",
			in:   identity.RegistrationInput{Name: ptr("  Siti Aminah "), Phone: ptr("08111222333"), Email: ptr("Siti@Example.CO.ID")},
			want: identity.Registration{Name: "Siti Aminah", Phone: "+628111222333", Email: "siti@example.co.id"},
		},
		{
			name: "non-latin name and every optional field",
			in: identity.RegistrationInput{Name: ptr("ꦧꦸꦢꦶ"), Phone: ptr("628123456789"), Email: ptr("b@x.id"),
				DOB: ptr("1990-05-12"), Gender: ptr("female"), NationalID: ptr("3201525205900001")},
			want: identity.Registration{Name: "ꦧꦸꦢꦶ", Phone: "+628123456789", Email: "b@x.id",
				Gender: "female", NationalID: "3201525205900001"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.in.Validate(now)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got.DOB = nil
			if got != tt.want {
				t.Errorf("Validate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	valid := func() identity.RegistrationInput {
		return identity.RegistrationInput{Name: ptr("Budi"), Phone: ptr("+628123456789"), Email: ptr("budi@example.com")}
	}
	tests := []struct {
		name   string
		change func(*identity.RegistrationInput)
		fields []string
	}{
		{"everything missing", func(in *identity.RegistrationInput) { *in = identity.RegistrationInput{} }, []string{"name", "phone", "email"}},
		{"blank name", func(in *identity.RegistrationInput) { in.Name = ptr("   ") }, []string{"name"}},
		{"name of 101 characters", func(in *identity.RegistrationInput) { in.Name = ptr(string(make([]rune, 101))) }, []string{"name"}},
		{"name with a control character", func(in *identity.RegistrationInput) { in.Name = ptr("Bu\x00di") }, []string{"name"}},
		{"name of digits only", func(in *identity.RegistrationInput) { in.Name = ptr("12345") }, []string{"name"}},
		{"foreign phone", func(in *identity.RegistrationInput) { in.Phone = ptr("+6591234567") }, []string{"phone"}},
		{"landline phone", func(in *identity.RegistrationInput) { in.Phone = ptr("+62215551234") }, []string{"phone"}},
		{"email without domain dot", func(in *identity.RegistrationInput) { in.Email = ptr("budi@example") }, []string{"email"}},
		{"email with display name", func(in *identity.RegistrationInput) { in.Email = ptr("Budi <budi@example.com>") }, []string{"email"}},
		{"dob not a date", func(in *identity.RegistrationInput) { in.DOB = ptr("12/05/1990") }, []string{"dob"}},
		{"dob today", func(in *identity.RegistrationInput) { in.DOB = ptr("2026-11-26") }, []string{"dob"}},
		{"dob in the future", func(in *identity.RegistrationInput) { in.DOB = ptr("2030-01-01") }, []string{"dob"}},
		{"unknown gender", func(in *identity.RegistrationInput) { in.Gender = ptr("x") }, []string{"gender"}},
		{"nik of 15 digits", func(in *identity.RegistrationInput) { in.NationalID = ptr("320152520590001") }, []string{"national_id"}},
		{"nik with letters", func(in *identity.RegistrationInput) { in.NationalID = ptr("32015252059000AB") }, []string{"national_id"}},
		{"nik with unknown province", func(in *identity.RegistrationInput) { in.NationalID = ptr("9901525205900001") }, []string{"national_id"}},
		{"nik with impossible date", func(in *identity.RegistrationInput) { in.NationalID = ptr("3201523102900001") }, []string{"national_id"}},
		{"nik with day 35", func(in *identity.RegistrationInput) { in.NationalID = ptr("3201523505900001") }, []string{"national_id"}},
		{"nik with zero serial", func(in *identity.RegistrationInput) { in.NationalID = ptr("3201521205900000") }, []string{"national_id"}},
		{"nik not matching dob", func(in *identity.RegistrationInput) {
			in.DOB, in.NationalID = ptr("1991-05-12"), ptr("3201521205900001")
		}, []string{"national_id"}},
		{"nik not matching gender", func(in *identity.RegistrationInput) {
			in.Gender, in.NationalID = ptr("male"), ptr("3201525205900001")
		}, []string{"national_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := valid()
			tt.change(&in)
			_, err := in.Validate(now)
			var verrs validation.Errors
			if !errors.As(err, &verrs) {
				t.Fatalf("Validate error = %v, want validation errors on %v", err, tt.fields)
			}
			var got []string
			for _, fe := range verrs {
				got = append(got, fe.Field)
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("invalid fields = %v, want %v", got, tt.fields)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("invalid fields = %v, want %v", got, tt.fields)
				}
			}
		})
	}
}
