package plugin_test

import (
	"strings"
	"testing"

	"github.com/krsi-dev/krsi/plugin"
)

func TestConfigListenAddressesAreHostPort(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the parsed healthAddr
		wantErr string
	}{
		{in: "", want: ""},
		{in: "healthAddr: \"\"\n", want: ""},
		{in: "healthAddr: 127.0.0.1:9465\n", want: "127.0.0.1:9465"},
		{in: "healthAddr: \":9465\"\n", want: ":9465"},
		{in: "healthAddr: \"[::1]:9465\"\n", want: "[::1]:9465"},
		{in: "healthAddr: 127.0.0.1:9464\nmetricsAddr: 127.0.0.1:9464\n", want: "127.0.0.1:9464"},
		{in: "healthAddr: \"9465\"\n",
			wantErr: `10-krsi.conf: healthAddr "9465": want HOST:PORT, e.g. 127.0.0.1:9465 or :9465, or empty for off (address 9465: missing port in address)`},
		{in: "healthAddr: localhost:http\n",
			wantErr: `10-krsi.conf: healthAddr "localhost:http": port "http" is not a number from 1 to 65535`},
		{in: "healthAddr: \":0\"\n", wantErr: `healthAddr ":0": port "0" is not a number`},
		{in: "healthAddr: \":65536\"\n", wantErr: `healthAddr ":65536": port "65536" is not a number`},
		{in: "metricsAddr: 127.0.0.1\n", wantErr: `10-krsi.conf: metricsAddr "127.0.0.1": want HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cfg, err := plugin.ParseConfig("10-krsi.conf", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseConfig = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HealthAddr != tt.want {
				t.Errorf("healthAddr = %q, want %q", cfg.HealthAddr, tt.want)
			}
		})
	}
}

func TestCheckListenAddrNamesTheFlag(t *testing.T) {
	err := plugin.CheckListenAddr("--health-addr", "nope")
	if err == nil || !strings.HasPrefix(err.Error(), `--health-addr "nope": want HOST:PORT`) {
		t.Errorf("CheckListenAddr = %v, want it to name --health-addr and what it wants", err)
	}
}
