package enforcement

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Programs whose LSM hook only some kernels have, by the kernel function
// (bpf_lsm_<hook>) that must exist for them to attach. On other kernels they
// are neither loaded nor expected among the pinned links.
var kernelHooks = map[string]string{
	// 6.2 and later: POSIX ACLs left inode_setxattr for hooks of their own.
	"krsi_inode_set_acl":    "bpf_lsm_inode_set_acl",
	"krsi_inode_remove_acl": "bpf_lsm_inode_remove_acl",
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

// available says whether the running kernel has p's hook. Without kernel BTF
// (no BPF LSM either) every program counts as available.
func (p program) available() bool {
	fn, ok := kernelHooks[p.name]
	if !ok {
		return true
	}
	_, err := kernelFunc(fn)
	return err == nil || !errors.Is(err, btf.ErrNotFound)
}

// setKernelConstants fills the object's load-time constants that depend on
// the kernel's hook signatures (bpf/include/krsi_access.h).
func setKernelConstants(spec *ebpf.CollectionSpec) error {
	v, ok := spec.Variables["krsi_setattr_idmap"]
	if !ok {
		return errors.New("krsi_setattr_idmap is not in krsi's BPF object (a build mismatch)")
	}
	fn, err := kernelFunc("bpf_lsm_inode_setattr")
	if err != nil {
		return fmt.Errorf("find inode_setattr's signature in the kernel's BTF: %w", err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return fmt.Errorf("bpf_lsm_inode_setattr has type %v, not a function prototype", fn.Type)
	}
	// (dentry, attr) on 6.1; (idmap, dentry, attr) from 6.8.
	idmap := uint32(0)
	if len(proto.Params) == 3 {
		idmap = 1
	}
	if err := v.Set(idmap); err != nil {
		return fmt.Errorf("set krsi_setattr_idmap: %w", err)
	}
	return nil
}
