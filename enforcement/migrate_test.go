package enforcement

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestRecordRoundTrips(t *testing.T) {
	for _, r := range []SetRecord{Running(), {Object: "0123456789ab", ABI: 7}, {Object: "", ABI: 0}} {
		if got := decodeRecord(encodeRecord(r)); got != r {
			t.Errorf("decode(encode(%+v)) = %+v", r, got)
		}
	}
}

// withMigrations runs a test with ms as the registered migrations and abi as
// this krsi's layout.
func withMigrations(t *testing.T, to uint32, ms []migration) {
	t.Helper()
	oldMs, oldABI := migrations, abi
	t.Cleanup(func() { migrations, abi = oldMs, oldABI })
	migrations, abi = ms, to
}

func TestMigrationPlanChainsFromThePinnedLayout(t *testing.T) {
	// 3→4 widens a binding value by 4 bytes; 4→5 rewrites keys.
	widen := func(k, v []byte) ([]byte, []byte, error) { return k, append(v, 0, 0, 0, 0), nil }
	rekey := func(k, v []byte) ([]byte, []byte, error) { return append([]byte{9}, k...), v, nil }
	ms := []migration{
		{from: 3, maps: map[string]convertFunc{bpfMapKrsiBindings: widen}},
		{from: 4, maps: map[string]convertFunc{bpfMapKrsiBindings: rekey, bpfMapKrsiStaged: rekey}},
	}
	tests := []struct {
		name    string
		from    uint32
		to      uint32
		wantErr []string
		// converted entry {1}→{2} of krsi_bindings, nil: map not in the plan
		wantKey, wantValue []byte
		wantMaps           int
	}{
		{"same layout", 5, 5, nil, nil, nil, 0},
		{"one step", 4, 5, nil, []byte{9, 1}, []byte{2}, 3},
		{"two steps", 3, 5, nil, []byte{9, 1}, []byte{2, 0, 0, 0, 0}, 3},
		{"downgrade", 6, 5, []string{"newer krsi", "ABI 6", "ABI 5", "krsi unload --pin-dir /p", "leaves that set enforcing"}, nil, nil, 0},
		{"no migration", 2, 5, []string{"ABI 2", "no migration from ABI 2 to 3", "leaves that set enforcing"}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withMigrations(t, tt.to, ms)
			plan, err := migrationPlan("/p", SetRecord{Object: "0123456789ab", ABI: tt.from})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error, want a refusal")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) != tt.wantMaps {
				t.Errorf("plan converts %d maps, want %d", len(plan), tt.wantMaps)
			}
			if tt.wantKey == nil {
				return
			}
			k, v := []byte{1}, []byte{2}
			for _, f := range plan[bpfMapKrsiBindings] {
				if k, v, err = f(k, v); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(k, tt.wantKey) || !bytes.Equal(v, tt.wantValue) {
				t.Errorf("converted entry = %v→%v, want %v→%v", k, v, tt.wantKey, tt.wantValue)
			}
			conf := make([]byte, 24)
			conf[0] = 0xaa
			for _, f := range plan[bpfMapKrsiConf] {
				if _, conf, err = f([]byte{0, 0, 0, 0}, conf); err != nil {
					t.Fatal(err)
				}
			}
			if got := binary.LittleEndian.Uint32(conf[16:]); got != tt.to || conf[0] != 0xaa {
				t.Errorf("krsi_conf after the plan: abi %d, seed byte %#x; want abi %d and the seed kept", got, conf[0], tt.to)
			}
		})
	}
}
