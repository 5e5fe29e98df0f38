package device_test

import (
	"errors"
	"testing"

	"amancair.dev/pkg/validation"
	"amancair.dev/services/device/internal/device"
)

func ptr[T any](v T) *T { return &v }

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   device.RegistrationInput
		want device.Registration
	}{
		{"every identifier",
			device.RegistrationInput{UserID: ptr[int64](1), IMEI: ptr("356938035643809"), AndroidID: ptr("9774D56D682E549C"),
				AdvertisingID: ptr("38400000-8CF0-11BD-B23E-10B96E40000D"), SIMSerial: ptr("8962010012345678901"),
				DeviceModel: ptr(" Samsung SM-A155F "), OSVersion: ptr("Android 14")},
			device.Registration{UserID: 1, IMEI: "356938035643809", AndroidID: "9774d56d682e549c",
				AdvertisingID: "38400000-8cf0-11bd-b23e-10b96e40000d", SIMSerial: "8962010012345678901",
				Model: "Samsung SM-A155F", OSVersion: "Android 14"}},
		{"android 10+ phone: android_id only",
			device.RegistrationInput{UserID: ptr[int64](7), AndroidID: ptr("9774d56d682e549c")},
			device.Registration{UserID: 7, AndroidID: "9774d56d682e549c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.in.Validate()
			if err != nil || got != tt.want {
				t.Errorf("Validate = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    device.RegistrationInput
		field string
	}{
		{"no identifier", device.RegistrationInput{UserID: ptr[int64](1), DeviceModel: ptr("X")}, "imei"},
		{"no user", device.RegistrationInput{AndroidID: ptr("9774d56d682e549c")}, "user_id"},
		{"negative user", device.RegistrationInput{UserID: ptr[int64](-1), AndroidID: ptr("9774d56d682e549c")}, "user_id"},
		{"imei failing luhn", device.RegistrationInput{UserID: ptr[int64](1), IMEI: ptr("356938035643808")}, "imei"},
		{"imei of 14 digits", device.RegistrationInput{UserID: ptr[int64](1), IMEI: ptr("35693803564380")}, "imei"},
		{"android_id not hex", device.RegistrationInput{UserID: ptr[int64](1), AndroidID: ptr("9774d56d682e549z")}, "android_id"},
		{"android_id too short", device.RegistrationInput{UserID: ptr[int64](1), AndroidID: ptr("9774d56d")}, "android_id"},
		{"advertising_id not a uuid", device.RegistrationInput{UserID: ptr[int64](1), AdvertisingID: ptr("abc")}, "advertising_id"},
		{"advertising_id zeroed", device.RegistrationInput{UserID: ptr[int64](1), AdvertisingID: ptr("00000000-0000-0000-0000-000000000000")}, "advertising_id"},
		{"sim serial not 89", device.RegistrationInput{UserID: ptr[int64](1), AndroidID: ptr("9774d56d682e549c"), SIMSerial: ptr("1262010012345678901")}, "sim_serial"},
		{"sim serial too short", device.RegistrationInput{UserID: ptr[int64](1), AndroidID: ptr("9774d56d682e549c"), SIMSerial: ptr("8962")}, "sim_serial"},
		{"model too long", device.RegistrationInput{UserID: ptr[int64](1), AndroidID: ptr("9774d56d682e549c"), DeviceModel: ptr(string(make([]byte, 101)))}, "device_model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.in.Validate()
			var verrs validation.Errors
			if !errors.As(err, &verrs) || len(verrs) != 1 || verrs[0].Field != tt.field {
				t.Errorf("Validate error = %v (%+v), want one error on %s", err, verrs, tt.field)
			}
		})
	}
}
