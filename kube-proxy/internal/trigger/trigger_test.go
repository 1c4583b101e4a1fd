package trigger

import "testing"

func pending(t *Trigger) int {
	n := 0
	for {
		select {
		case <-t.C():
			n++
		default:
			return n
		}
	}
}

func TestFire(t *testing.T) {
	tests := []struct {
		name  string
		fires int
		want  int
	}{
		{"nothing fired, nothing pending", 0, 0},
		{"one fire, one wake-up", 1, 1},
		{"many fires coalesce into one wake-up", 50, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			for range tt.fires {
				tr.Fire()
			}
			if got := pending(tr); got != tt.want {
				t.Fatalf("%d wake-ups pending, want %d", got, tt.want)
			}
		})
	}
}
