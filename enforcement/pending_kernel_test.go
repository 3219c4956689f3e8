package enforcement_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/test/kerneltest"
)

// A container's exec rules wait for its entrypoint: runc 1.1 re-executes
// itself inside the container's cgroup first (from a memfd, or a detached bind
// mount) and maps the node's libraries, which an allow list would refuse. The
// probe plays runc: it joins the cgroup without an exec, then acts.
func TestExecRulesWaitForTheEntrypoint(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	probeBin := kerneltest.Env(t, "KRSI_PROBE")
	denied := kerneltest.Env(t, "KRSI_DYN_TRUE") // not on the allow list
	id := setProfile(t, e, "pending", "exec:\n  allow: ["+probeBin+"]\n  fileless: deny\n")
	stage := func(t *testing.T, name string) (string, uint64) {
		return stagedCgroup(t, name, e.StageContainer, id)
	}
	pending := func(t *testing.T, cgid uint64) bool {
		t.Helper()
		b, ok, err := e.Lookup(cgid)
		if err != nil || !ok {
			t.Fatalf("cgroup %d: bound %v, err %v", cgid, ok, err)
		}
		return b.ExecPending
	}
	in := func(dir string, args ...string) kerneltest.Result {
		return probe(t, "", append([]string{"join-cgroup", dir}, args...)...)
	}
	self := []string{probeBin, "open", "/dev/null", "r"} // runs the probe again; prints ok

	t.Run("runtime start-up, then the entrypoint", func(t *testing.T) {
		dir, cgid := stage(t, "pending-runc")
		if !pending(t, cgid) {
			t.Fatal("a staged container cgroup has its exec rules armed before its entrypoint")
		}
		for _, step := range []struct {
			what    string
			args    []string
			ok      bool
			waiting bool // exec rules still wait afterwards
		}{
			{"runc 1.1 re-exec from a memfd", append([]string{"memfd-exec"}, self...), true, true},
			{"runc 1.1 re-exec from a detached bind mount", append([]string{"detached-exec"}, self...), true, true},
			{"a node library mapped executable", []string{"mmap-file-exec", denied}, true, true},
			{"the entrypoint, not on the allow list", []string{"exec", denied}, false, false},
			{"a memfd exec after the entrypoint", append([]string{"memfd-exec"}, self...), false, false},
			{"a detached-mount exec after the entrypoint", append([]string{"detached-exec"}, self...), false, false},
			{"a file mapped executable after the entrypoint", []string{"mmap-file-exec", denied}, false, false},
			{"an allowed exec after the entrypoint", append([]string{"exec"}, self...), true, false},
		} {
			r := in(dir, step.args...)
			if step.ok && !r.OK() || !step.ok && !r.Denied() {
				t.Errorf("%s: %v; want ok=%v", step.what, r, step.ok)
			}
			if got := pending(t, cgid); got != step.waiting {
				t.Errorf("after %s: exec rules wait=%v, want %v", step.what, got, step.waiting)
			}
		}
	})

	t.Run("an allowed entrypoint arms them too", func(t *testing.T) {
		dir, cgid := stage(t, "pending-allowed")
		if r := in(dir, append([]string{"exec"}, self...)...); !r.OK() {
			t.Fatalf("allowed entrypoint: %v", r)
		}
		if pending(t, cgid) {
			t.Fatal("exec rules still wait after an allowed entrypoint")
		}
		if r := in(dir, append([]string{"memfd-exec"}, self...)...); !r.Denied() {
			t.Fatalf("memfd exec after the entrypoint: %v; want denied", r)
		}
	})

	t.Run("Arm, as the plugin does at StartContainer", func(t *testing.T) {
		dir, cgid := stage(t, "pending-arm")
		if was, err := e.Arm(cgid); err != nil || !was {
			t.Fatalf("Arm = %v, %v; want true, nil", was, err)
		}
		if was, err := e.Arm(cgid); err != nil || was {
			t.Fatalf("second Arm = %v, %v; want false, nil", was, err)
		}
		if r := in(dir, append([]string{"memfd-exec"}, self...)...); !r.Denied() {
			t.Fatalf("memfd exec after Arm: %v; want denied", r)
		}
	})

	t.Run("a child cgroup arms its parent", func(t *testing.T) {
		dir, cgid := stage(t, "pending-parent")
		child := filepath.Join(dir, "child")
		if err := os.Mkdir(child, 0o755); err != nil {
			t.Fatal(err)
		}
		if pending(t, cgid) || pending(t, kerneltest.ID(t, child)) {
			t.Fatal("exec rules wait in a cgroup with a child, or in the child")
		}
		if r := in(dir, append([]string{"memfd-exec"}, self...)...); !r.Denied() {
			t.Fatalf("memfd exec in the parent: %v; want denied", r)
		}
	})
}

// File rules wait for the entrypoint too: before it, runc makes mount points
// and device nodes in the container's root and opens its own state files,
// under paths a read-only profile denies (CRI-O's roots are under
// /var/lib/containers). W^X does not wait.
func TestFileRulesWaitForTheEntrypoint(t *testing.T) {
	kerneltest.Require(t)
	e := open(t, enforcement.Options{})
	probeBin := kerneltest.Env(t, "KRSI_PROBE")
	ro := t.TempDir()
	file := filepath.Join(ro, "config")
	if err := os.WriteFile(file, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := setProfile(t, e, "pending-files", wx+"files:\n  rules:\n    - path: "+ro+"/**\n      deny: [write]\n")
	dir, _ := stagedCgroup(t, "pending-files", e.StageContainer, id)
	in := func(args ...string) kerneltest.Result {
		return probe(t, "", append([]string{"join-cgroup", dir}, args...)...)
	}
	for _, step := range []struct {
		what string
		args []string
		ok   bool
	}{
		{"the runtime writes a file under the read-only folder", []string{"open", file, "w"}, true},
		{"the runtime makes a folder there", []string{"mkdir", filepath.Join(ro, "proc")}, true},
		{"the runtime removes it", []string{"rmdir", filepath.Join(ro, "proc")}, true},
		{"W^X holds from creation", []string{"mprotect-rw-rx"}, false},
		{"the entrypoint writes the file", []string{"exec", probeBin, "open", file, "w"}, false},
		{"a write after the entrypoint", []string{"open", file, "w"}, false},
		{"a mkdir after the entrypoint", []string{"mkdir", filepath.Join(ro, "new")}, false},
		{"a read after the entrypoint", []string{"open", file, "r"}, true},
	} {
		r := in(step.args...)
		if step.ok && !r.OK() || !step.ok && !r.Denied() {
			t.Errorf("%s: %v; want ok=%v", step.what, r, step.ok)
		}
	}
}
