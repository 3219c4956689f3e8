package main

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/plugin"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/admission.yaml from the DaemonSet's node configuration")

const (
	daemonSetFile = "../../deploy/kubernetes/daemonset.yaml"
	admissionFile = "../../deploy/kubernetes/admission.yaml"
	admissionFrom = "deploy/kubernetes/daemonset.yaml (ConfigMap krsi-config, 10-krsi.conf)"
)

// daemonSetConfig is the node configuration the DaemonSet ships.
func daemonSetConfig(tb testing.TB) plugin.Config {
	tb.Helper()
	data, err := os.ReadFile(daemonSetFile)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if err := dec.Decode(&doc); err != nil {
			tb.Fatalf("%s has no ConfigMap krsi-config: %v", daemonSetFile, err)
		}
		if doc.Kind == "ConfigMap" && doc.Metadata.Name == "krsi-config" {
			cfg, err := plugin.ParseConfig(admissionFrom, []byte(doc.Data["10-krsi.conf"]))
			if err != nil {
				tb.Fatal(err)
			}
			return cfg
		}
	}
}

// The admission policy shipped beside the DaemonSet is the one its node
// configuration generates: change one, regenerate the other
// (go test ./cmd/krsi -run TestDeployedAdmissionPolicy -update).
func TestDeployedAdmissionPolicyMatchesTheDaemonSetConfig(t *testing.T) {
	in := daemonSetConfig(t).Admission()
	if *update {
		out, err := admission.Generate(in, admissionFrom)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(admissionFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deployed, err := os.ReadFile(admissionFile)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/krsi -run TestDeployedAdmissionPolicy -update)", err)
	}
	if err := admission.Check(in, admissionFrom, deployed, admissionFile); err != nil {
		t.Fatalf("%v\n(here: go test ./cmd/krsi -run TestDeployedAdmissionPolicy -update)", err)
	}
}
