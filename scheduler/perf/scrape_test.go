package perf

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape returns the values of two series from a Prometheus text page.
func scrape(tb testing.TB, url, a, b string) (float64, float64) {
	resp, err := http.Get(url)
	if err != nil {
		tb.Logf("scrape %s: %v", url, err)
		return 0, 0
	}
	defer resp.Body.Close()
	var va, vb float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, x := range []struct {
			name string
			v    *float64
		}{{a, &va}, {b, &vb}} {
			if rest, ok := strings.CutPrefix(line, x.name+" "); ok {
				*x.v, _ = strconv.ParseFloat(strings.TrimSpace(rest), 64)
			}
		}
	}
	return va, vb
}
