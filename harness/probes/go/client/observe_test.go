package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8439, section 2.4.2.
func TestChaCha20(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	nonce := mustHex(t, "000000000000004a00000000")
	pt := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	want := mustHex(t, "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d")
	if got := chacha20XOR(key, nonce, 1, pt); !bytes.Equal(got, want) {
		t.Fatalf("chacha20 mismatch:\n got %x\nwant %x", got, want)
	}
}

// RFC 8448, section 3 (server handshake traffic keys).
func TestExpandLabel(t *testing.T) {
	secret := mustHex(t, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
	if got := hex.EncodeToString(expandLabel(sha256.New, secret, "key", 16)); got != "3fce516009c21727d0f2e4e86ee403bc" {
		t.Fatalf("key %s", got)
	}
	if got := hex.EncodeToString(expandLabel(sha256.New, secret, "iv", 12)); got != "5d313eb2671276ee13000b30" {
		t.Fatalf("iv %s", got)
	}
}
