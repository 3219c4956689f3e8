package cgroup

import (
	"strings"
	"testing"
)

func TestParseMountinfoFindsCgroup2(t *testing.T) {
	tests := []struct {
		name, in string
		want     Mount
		wantErr  string
	}{
		{
			name: "pure v2",
			in:   "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
			want: Mount{Dir: "/sys/fs/cgroup", Root: "/"},
		},
		{
			name: "hybrid prefers nothing else than the unified mount",
			in: "31 23 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"32 23 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			want: Mount{Dir: "/sys/fs/cgroup/unified", Root: "/"},
		},
		{
			name: "escaped mount point and namespaced root",
			in:   `40 23 0:28 /kubepods/pod1 /mnt/my\040cg rw - cgroup2 cgroup2 rw` + "\n",
			want: Mount{Dir: "/mnt/my cg", Root: "/kubepods/pod1"},
		},
		{
			name:    "none",
			in:      "22 1 0:21 / /proc rw - proc proc rw\n",
			wantErr: "no cgroup v2 hierarchy is mounted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestMountPathIsTheKernelsHierarchyPath(t *testing.T) {
	tests := []struct {
		m       Mount
		dir     string
		want    string
		wantErr bool
	}{
		{Mount{"/sys/fs/cgroup", "/"}, "/sys/fs/cgroup/krsi/run-1", "/krsi/run-1", false},
		{Mount{"/sys/fs/cgroup", "/"}, "/sys/fs/cgroup", "/", false},
		{Mount{"/sys/fs/cgroup/unified", "/"}, "/sys/fs/cgroup/unified/a", "/a", false},
		{Mount{"/sys/fs/cgroup", "/ns"}, "/sys/fs/cgroup/a/b", "/ns/a/b", false},
		{Mount{"/sys/fs/cgroup", "/"}, "/tmp/x", "", true},
	}
	for _, tt := range tests {
		got, err := tt.m.Path(tt.dir)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%+v.Path(%q) = %q, %v; want %q (err %v)", tt.m, tt.dir, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFromCgroupsPath(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"/kubepods/besteffort/pod1/abc", "/kubepods/besteffort/pod1/abc", false},
		{"/k8s.io/abc", "/k8s.io/abc", false},
		{"kubepods-besteffort-pod1_2.slice:cri-containerd:abc",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-abc.scope", false},
		{"kubepods-pod9.slice:crio:abc", "/kubepods.slice/kubepods-pod9.slice/crio-abc.scope", false},
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope", false},
		{":crio:abc", "/system.slice/crio-abc.scope", false},
		{"-.slice::abc", "/abc.scope", false},
		{"kubepods.slice:crio:x.slice", "/kubepods.slice/x.slice", false},
		{"", "", true},
		{"/a/../b", "", true},
		{"a:b", "", true},
		{"kubepods--x.slice:crio:abc", "", true},
		{"kubepods.slice:crio:", "", true},
		{"notaslice:crio:abc", "", true},
	}
	for _, tt := range tests {
		got, err := FromCgroupsPath(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("FromCgroupsPath(%q) = %q, %v; want %q (err %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
