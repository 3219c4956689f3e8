package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad daemon flags are refused before anything is loaded into the kernel.
func TestPluginFlagsAreCheckedBeforeStarting(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "10-krsi.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "health address without port", args: []string{"--health-addr", "9465"},
			wantErr: `--health-addr "9465": want HOST:PORT`},
		{name: "metrics address with a named port", args: []string{"--metrics-addr", "127.0.0.1:http"},
			wantErr: `--metrics-addr "127.0.0.1:http": port "http" is not a number`},
		{name: "api server alone", args: []string{"--api-server", "https://10.0.0.1:6443"},
			wantErr: "--api-server is only used with --unload-when-gone"},
		{name: "owner not a name", args: []string{"--unload-when-gone", "krsi-system/Krsi_DS"},
			wantErr: `--unload-when-gone: DaemonSet "krsi-system/Krsi_DS": name "Krsi_DS" is not a Kubernetes object name`},
		{name: "no API server known", args: []string{"--unload-when-gone", "krsi-system/krsi"},
			env:     map[string]string{"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""},
			wantErr: "--unload-when-gone: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"},
		{name: "plain http API server", args: []string{"--unload-when-gone", "krsi-system/krsi", "--api-server", "http://10.0.0.1:6443"},
			wantErr: `--unload-when-gone: API server "http://10.0.0.1:6443": want https://HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := runKrsi(t, append([]string{"plugin", "--config", conf}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("krsi plugin %v = %v, want %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
