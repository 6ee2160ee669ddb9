package consent

import (
	"strconv"
	"testing"
	"time"
)

// testPast is a deadline that has already passed: a context with it is done
// from the start, so timeout paths run without waiting.
var testPast = time.Unix(1, 0)

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
