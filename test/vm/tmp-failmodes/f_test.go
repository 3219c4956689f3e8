package f

import "testing"

func TestPasses(t *testing.T) {}
func TestSkips(t *testing.T) { t.Skip("no feature") }
func TestSubSkip(t *testing.T) {
	t.Run("inner", func(t *testing.T) { t.Skip("inner skip") })
}
