package enforcement

import (
	"errors"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// Programs for hooks (or hook signatures) only some kernels have: each is
// loaded where its function says the running kernel has what it needs, and
// neither loaded nor expected among the pinned links elsewhere.
var kernelHooks = map[string]func() bool{
	// 6.2 and later: POSIX ACLs left inode_setxattr for hooks of their own.
	"krsi_inode_set_acl":    func() bool { return kernelHas("bpf_lsm_inode_set_acl") },
	"krsi_inode_remove_acl": func() bool { return kernelHas("bpf_lsm_inode_remove_acl") },
	// inode_setattr(dentry, attr) up to 6.7, (idmap, dentry, attr) from 6.8.
	"krsi_inode_setattr":       func() bool { return kernelParams("bpf_lsm_inode_setattr") != 3 },
	"krsi_inode_setattr_idmap": func() bool { return kernelParams("bpf_lsm_inode_setattr") == 3 },
}

var kernelBTF = sync.OnceValues(btf.LoadKernelSpec)

// kernelFunc finds a function in the running kernel's BTF.
func kernelFunc(name string) (*btf.Func, error) {
	spec, err := kernelBTF()
	if err != nil {
		return nil, err
	}
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		return nil, err
	}
	return fn, nil
}

// kernelHas says whether the running kernel has function name. Without
// kernel BTF (no BPF LSM either) it answers yes: loading then fails loudly.
func kernelHas(name string) bool {
	_, err := kernelFunc(name)
	return err == nil || !errors.Is(err, btf.ErrNotFound)
}

// kernelParams is the number of parameters of the kernel's function name, or
// -1 when it cannot be told.
func kernelParams(name string) int {
	fn, err := kernelFunc(name)
	if err != nil {
		return -1
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return -1
	}
	return len(proto.Params)
}

// available says whether the running kernel has what p attaches to.
func (p program) available() bool {
	f, ok := kernelHooks[p.name]
	return !ok || f()
}
