package loadtest

import (
	"slices"
	"testing"
	"time"
)

func TestFanout(t *testing.T) {
	tests := []struct {
		name    string
		sent    []time.Duration
		arrived [][]time.Duration
		want    FanoutResult
	}{
		{
			name:    "all-watchers latency is the last arrival",
			sent:    ms(100),
			arrived: [][]time.Duration{ms(103, 110, 105)},
			want:    FanoutResult{All: ms(10), Each: ms(3, 10, 5)},
		},
		{
			name:    "events are measured from their own send",
			sent:    ms(100, 200),
			arrived: [][]time.Duration{ms(101, 102), ms(230, 204)},
			want:    FanoutResult{All: ms(2, 30), Each: ms(1, 2, 30, 4)},
		},
		{
			name:    "a missed delivery drops the event from All and is counted",
			sent:    ms(100, 200),
			arrived: [][]time.Duration{ms(101, 0), ms(201, 202)},
			want:    FanoutResult{All: ms(2), Each: ms(1, 1, 2), Missed: 1, Incomplete: 1},
		},
		{
			name:    "nothing sent, nothing measured",
			sent:    nil,
			arrived: nil,
			want:    FanoutResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fanout(tt.sent, tt.arrived)
			if !slices.Equal(got.All, tt.want.All) || !slices.Equal(got.Each, tt.want.Each) ||
				got.Missed != tt.want.Missed || got.Incomplete != tt.want.Incomplete {
				t.Errorf("Fanout = %+v, want %+v", got, tt.want)
			}
		})
	}
}
