package auth

import (
	"strings"
	"testing"
)

func TestUnitPasswordHashing(t *testing.T) {
	tests := []struct {
		name    string
		stored  string
		attempt string
		want    bool
	}{
		{"same password", "correct horse", "correct horse", true},
		{"wrong password", "correct horse", "correct horsf", false},
		{"prefix of password", "correct horse", "correct", false},
		{"empty attempt", "correct horse", "", false},
		{"unicode", "pässwörd-ü", "pässwörd-ü", true},
		{"unicode normalisation differs", "pässwörd-ü", "pässwörd-u\u0308", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := HashPassword(tt.stored)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(hash, tt.stored) {
				t.Fatalf("hash contains the password: %s", hash)
			}
			if got := CheckPassword(hash, tt.attempt); got != tt.want {
				t.Fatalf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnitPasswordHashFormat(t *testing.T) {
	h1, err := HashPassword("same-password")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("same-password")
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=7168,t=5,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the expected parameters", h1)
	}
	if h1 == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestUnitCheckPasswordRejectsMalformedHash(t *testing.T) {
	good, err := HashPassword("password1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		name string
		hash string
	}{
		{"empty", ""},
		{"plain text", "password1"},
		{"argon2i", with(1, "argon2i")},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuu5Jx4r8c5nQ8Z6s9kz8X2bN3q9V4j1yC"},
		{"wrong version", with(2, "v=16")},
		{"huge memory", with(3, "m=4294967295,t=2,p=1")},
		{"huge time", with(3, "m=19456,t=1000,p=1")},
		{"zero threads", with(3, "m=19456,t=2,p=0")},
		{"bad salt", with(4, "!!!")},
		{"short key", with(5, "AAAA")},
		{"extra field", good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if CheckPassword(tt.hash, "password1") {
				t.Fatalf("CheckPassword accepted malformed hash %q", tt.hash)
			}
		})
	}
	if !CheckPassword(good, "password1") {
		t.Fatal("the unmodified hash must still match")
	}
}
