package genericstore

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestContinueTokenRoundTrip(t *testing.T) {
	tok := encodeContinue(42, "ns/name\x00")
	got, err := decodeContinue(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 42 || got.StartKey != "ns/name\x00" {
		t.Fatalf("decoded %+v", got)
	}
	// The inconsistent continuation of a compacted token.
	if got, err := decodeContinue(encodeContinue(inconsistentRevision, "ns/x")); err != nil || got.Revision != inconsistentRevision {
		t.Fatalf("inconsistent token: %+v, %v", got, err)
	}
}

func TestContinueTokenRejectsGarbage(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, token string
	}{
		{"not base64", "!!!"},
		{"not JSON", enc("nope")},
		{"wrong version", enc(`{"v":"other/v9","rv":3,"start":"a"}`)},
		{"no revision", enc(`{"v":"meta.k8s.io/v1","rv":0,"start":"a"}`)},
		{"escaping the prefix", enc(`{"v":"meta.k8s.io/v1","rv":3,"start":"../secrets/x"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeContinue(tt.token)
			if err == nil || !strings.Contains(err.Error(), "continue key is not valid") {
				t.Fatalf("got %v", err)
			}
		})
	}
}
