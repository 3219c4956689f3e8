// Package enforcement owns krsi's kernel side from user space: it loads and
// attaches the BPF LSM programs, pins them, lays out the maps, and is the
// only code that writes them. Step in the pipeline: compiled profile → map
// entries → (kernel decides) → events read back here.
//
// Nothing else in krsi touches a BPF map: the plugin and the CLI ask this
// package to set a profile, bind or stage a cgroup, and read events. The
// values they exchange (ProfileID, Binding, Event, ...) are the enforced
// package's, which imports no BPF code, so that its users need none either.
//
// The kernel's types and constants come from bpf/include/krsi.h through
// bpf2go (gen.go, bpf_*_bpfel.go); TestABI compares what is copied by hand
// with the object's BTF.
//
// Its jobs, by file:
//   - the loader: enforcement.go (Open: load, attach, pin; the program
//     table), kernel.go and kernelhooks.go (what the running kernel can do),
//     capacity.go (map sizes), pins.go, record.go, object.go and upgrade.go (a
//     pinned set reused, repaired or replaced by another krsi's);
//   - the map store, the only writer of the maps: profiles.go (profiles and
//     their rules, hash.go and masks.go for the keys), bindings.go (cgroups
//     bound and staged), fallback.go (fail closed), entries.go (map entries
//     to and from the enforced package's values);
//   - what the kernel reports back: events.go (the ring buffer of
//     violations), usage.go (counters, how full the maps are);
//   - the pin-reading status (`krsi status`): status.go reads a pinned set
//     without loading or writing anything, cgroupwalk.go finds the paths of
//     the bound cgroup ids.
package enforcement

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/profiles"
)

// abi is KRSI_ABI (bpf/include/krsi.h), the layout version this krsi writes
// into krsi_conf. A variable only so that the upgrade tests' layout build
// (testlayout.go) can stamp another.
var abi = uint32(bpfKrsiAbiKRSI_ABI)

// layoutChange, nil in krsi, is the upgrade tests' change of the maps'
// layout (testlayout.go).
var layoutChange func(*ebpf.CollectionSpec)

// Options for Open.
type Options struct {
	// PinDir is a directory on bpffs where everything is pinned, so that
	// enforcement outlives the process and a restart reuses it. Empty: nothing
	// is pinned and the programs detach when the Enforcer is closed (krsi run).
	PinDir string
	// Marker is a file outside bpffs, emptied at boot as bpffs is, that
	// records that PinDir holds a set (DefaultMarkerPath for the daemon):
	// with it, pins removed by hand are told apart from a first start.
	// Empty: no marker.
	Marker string
	// Capacity overrides map sizes (tests; nodes that need more).
	Capacity Capacity
	// For, with no PinDir, loads and attaches only the programs that can
	// decide something for a cgroup bound to one of these profiles (krsi run:
	// its one profile); SetProfile then refuses a profile that needs others.
	// Each program costs a verification at load (seconds under emulation) and
	// a call on every use of its hook. Empty: all of them.
	For []*profiles.Compiled
}

// Enforcer is a loaded and attached set of krsi programs and their maps.
type Enforcer struct {
	maps   bpfMaps
	links  []link.Link
	pinDir string
	marker string
	seed1  uint64
	seed2  uint64
	reused bool
	// recovered says what Open found missing in the pin directory and what
	// it did about it, for the daemon's log.
	recovered []string
	// hooks: the profile flags whose programs are attached (pfAll: every program).
	hooks uint32

	mu       sync.Mutex                     // serialises profile changes
	rulesets map[enforced.ProfileID]ruleset // rules written by this process, for swaps
	nextRS   uint32
}

// program describes how one program is attached.
type program struct {
	name string
	lsm  bool
	// need: the profile flags a program decides for (any of them); 0: always
	// attached (the cgroup programs bind every cgroup).
	need uint32
}

// The rule kinds a program decides for, as profile flags.
const (
	needFiles = pfUsesFiles
	needExec  = pfUsesExec
	needWX    = pfDenyWX
	needPath  = needFiles | needExec
	// Multi-call binaries' applets (exec.applets): krsi_bprm_committing.
	needApplets = pfUsesApplets
	pfAll       = needFiles | needExec | needWX | needApplets
)

var programs = []program{
	// The cgroup programs first: a cgroup created while the rest attach is bound.
	{"krsi_cgroup_mkdir", false, 0},
	{"krsi_cgroup_rmdir", false, 0},
	// One program per hook where several rule kinds have work (bpf/krsi.c,
	// "what is attached"): attached when the profile needs any of them.
	{"krsi_file_mprotect", true, needWX},
	// Exec rules; W^X of ELF programs and marks; also arms path rules at a
	// container's entrypoint (KRSI_BINDING_EXEC_PENDING).
	{"krsi_bprm_check", true, needPath | needWX},
	// The applet a multi-call binary runs, after execve's point of no
	// return (bpf/lib/applet.h): kills a denied one.
	{"krsi_bprm_committing", true, needApplets},
	// W^X; the exec rules on PROT_EXEC mappings; the write rule on shared
	// mappings of a descriptor open for appending.
	{"krsi_mmap_file", true, needWX | needExec | needFiles},
	// For every profile the check that keeps a process in its container's
	// cgroups (bpf/progs/cgroup.h, a move through cgroup.procs); files rules; the
	// ELF loader's open of a program's interpreter, held to the exec rules
	// and W^X; W^X marks of files opened for writing.
	{"krsi_file_open", true, 0},
	// The same for a descriptor passed in (SCM_RIGHTS, pidfd_getfd).
	{"krsi_file_receive", true, 0},
	// Tells the interpreter's open from the program's own (bpf/lib/exec.h).
	{"krsi_exec_stage_reset", true, pfAll},
	// clone3(CLONE_INTO_CGROUP), refused to bound callers: every profile.
	{"krsi_task_alloc", true, 0},
	// bpf/progs/pathchange.h: routes around the programs above.
	{"krsi_path_unlink", true, needFiles},
	{"krsi_path_rmdir", true, needFiles},
	{"krsi_path_mkdir", true, needFiles},
	{"krsi_path_mknod", true, needFiles},
	{"krsi_path_symlink", true, needFiles},
	{"krsi_path_truncate", true, needFiles},
	{"krsi_path_chmod", true, needFiles},
	{"krsi_path_chown", true, needFiles},
	{"krsi_path_link", true, needPath},
	{"krsi_path_rename", true, needPath},
	{"krsi_path_chroot", true, needPath},
	// bpf/progs/access.h: what a descriptor is used for after its open.
	{"krsi_file_fcntl", true, needFiles},
	{"krsi_file_permission", true, needFiles},
	{"krsi_file_ioctl", true, needFiles},
	{"krsi_inode_setattr", true, needFiles},       // up to 6.7 (kernelHooks)
	{"krsi_inode_setattr_idmap", true, needFiles}, // 6.8 and later
	{"krsi_inode_setxattr", true, needFiles},
	{"krsi_inode_removexattr", true, needFiles},
	{"krsi_inode_set_acl", true, needFiles},    // 6.2 and later (kernelHooks)
	{"krsi_inode_remove_acl", true, needFiles}, // 6.2 and later
	{"krsi_wx_ptrace_access", true, needWX},
	{"krsi_wx_ptrace_traceme", true, needWX},
	{"krsi_wx_shm_shmat", true, needWX},
	{"krsi_wx_anon_inode", true, needWX},
}

func (p program) wanted(hooks uint32) bool {
	return (p.need == 0 || p.need&hooks != 0) && p.available()
}

// hooksFor is the union of the hook flags of the profiles in cs.
func hooksFor(cs []*profiles.Compiled) uint32 {
	if len(cs) == 0 {
		return pfAll
	}
	var h uint32
	for _, c := range cs {
		h |= profileFlags(c) & pfAll
	}
	return h
}

// Open loads krsi's programs and attaches them. With opts.PinDir: a complete
// set this binary pinned is reused without a gap; a set pinned by another
// krsi (another BPF object or map layout, or one that recorded none) is
// replaced without a gap (upgrade.go, docs/upgrade.md).
func Open(opts Options) (*Enforcer, error) {
	if err := CheckKernel(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock rlimit: %w", err)
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("load BPF object spec: %w", err)
	}
	if err := opts.Capacity.apply(spec); err != nil {
		return nil, err
	}
	if layoutChange != nil {
		layoutChange(spec)
	}
	e := &Enforcer{pinDir: opts.PinDir, marker: opts.Marker, rulesets: map[enforced.ProfileID]ruleset{}, hooks: hooksFor(opts.For)}
	if opts.PinDir != "" && e.hooks != pfAll {
		return nil, errors.New("a pinned set serves every profile: Options.For needs an empty PinDir")
	}
	var mapOpts ebpf.MapOptions
	if opts.PinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := mountBPFFS(opts.PinDir); err != nil {
			return nil, err
		}
		mapOpts.PinPath = opts.PinDir
		if e.recovered, err = repairSwitch(opts.PinDir); err != nil {
			return nil, fmt.Errorf("%w; the pins are left as they are", err)
		}
		if err := checkBPFFS(opts.PinDir); err != nil {
			return nil, err
		}
		// Links another krsi did not pin are no loss: replace attaches them.
		rec, recorded, err := readRecord(opts.PinDir)
		if err != nil {
			return nil, err
		}
		foreign := anyLinkPinned(opts.PinDir) && (!recorded || rec != Running())
		recovered, err := recoverPins(opts.PinDir, opts.Marker, spec, foreign)
		e.recovered = append(e.recovered, recovered...)
		if err != nil {
			return nil, fmt.Errorf("%w; `krsi unload --pin-dir %s` removes the pins (it stops enforcement) "+
				"and krsi then loads a whole set", err, opts.PinDir)
		}
	}

	// Whose set is pinned: this binary's is reused, any other krsi's (or one
	// from before sets were recorded) is replaced without a gap (upgrade.go).
	var from SetRecord
	own := false
	if opts.PinDir != "" && anyLinkPinned(opts.PinDir) {
		if from, err = pinnedABI(opts.PinDir); err != nil {
			return nil, err
		}
		own = from == Running()
	}
	switch {
	case opts.PinDir != "" && anyLinkPinned(opts.PinDir) && !own:
		if err := e.replace(spec, from); err != nil {
			return nil, err
		}
	case opts.PinDir != "" && linksPinned(opts.PinDir):
		// A restart: the pinned programs never stopped enforcing; take the maps.
		if err := spec.LoadAndAssign(&e.maps, &ebpf.CollectionOptions{Maps: mapOpts}); err != nil {
			return nil, pinError(opts.PinDir, err)
		}
		e.reused = true
	default:
		if err := e.load(spec, mapOpts); err != nil {
			if opts.PinDir != "" && !anyLinkPinned(opts.PinDir) {
				// Nothing enforces through these pins: do not leave half a set.
				_ = os.RemoveAll(opts.PinDir)
			}
			return nil, err
		}
		if opts.PinDir != "" {
			if err := writeRecord(opts.PinDir); err != nil {
				e.Close()
				return nil, err
			}
		}
	}
	if err := e.initConfig(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.scanRulesets(); err != nil {
		e.Close()
		return nil, err
	}
	if n, err := e.pruneRulesets(); err != nil {
		e.Close()
		return nil, err
	} else if n > 0 {
		e.recovered = append(e.recovered, fmt.Sprintf("removed %d rule entries that no profile used "+
			"(left by a krsi stopped while it wrote a profile)", n))
	}
	if opts.PinDir != "" {
		if err := writeMarker(opts.Marker, opts.PinDir); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// Recovered says what Open found missing or left over in the pin directory
// and what it did about it; empty when the set was whole (or new).
func (e *Enforcer) Recovered() []string { return e.recovered }

func (e *Enforcer) load(spec *ebpf.CollectionSpec, mapOpts ebpf.MapOptions) error {
	for _, p := range programs {
		if !p.wanted(e.hooks) {
			delete(spec.Programs, p.name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: mapOpts})
	if err != nil {
		return loadError(err, e.pinDir)
	}
	defer coll.Close() // attached links hold their programs
	if err := coll.Assign(&e.maps); err != nil {
		return fmt.Errorf("take krsi's maps from the loaded collection: %w", err)
	}
	linkDir := ""
	if e.pinDir != "" {
		linkDir = filepath.Join(e.pinDir, "links")
		if err := os.MkdirAll(linkDir, 0o700); err != nil {
			e.Close()
			return fmt.Errorf("create link pin directory: %w", err)
		}
	}
	if err := e.attach(coll, linkDir); err != nil {
		e.Close()
		return err
	}
	return nil
}

// attach attaches the wanted programs of coll and, with a linkDir, pins
// their links there; a link already pinned there is taken as it is (a
// restart that finds part of its set).
func (e *Enforcer) attach(coll *ebpf.Collection, linkDir string) error {
	for _, p := range programs {
		if !p.wanted(e.hooks) {
			continue
		}
		pinned := ""
		if linkDir != "" {
			pinned = filepath.Join(linkDir, p.name)
			if l, err := link.LoadPinnedLink(pinned, nil); err == nil {
				e.links = append(e.links, l)
				continue
			}
		}
		prog := coll.Programs[p.name]
		if prog == nil {
			return fmt.Errorf("program %s is not in krsi's BPF object (a build mismatch)", p.name)
		}
		var l link.Link
		var err error
		if p.lsm {
			l, err = link.AttachLSM(link.LSMOptions{Program: prog})
		} else {
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		}
		if err != nil {
			return attachError(p.name, err)
		}
		e.links = append(e.links, l)
		if pinned != "" {
			if err := l.Pin(pinned); err != nil {
				return fmt.Errorf("pin link %s at %s: %w", p.name, pinned, err)
			}
		}
	}
	return nil
}

// Reused reports whether Open found a complete pinned set and took it over.
func (e *Enforcer) Reused() bool { return e.reused }

// PinDir is where this Enforcer's objects are pinned, or "" when they are not.
func (e *Enforcer) PinDir() string { return e.pinDir }

func linksPinned(dir string) bool {
	for _, p := range programs {
		if !p.available() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "links", p.name)); err != nil {
			return false
		}
	}
	return true
}

func anyLinkPinned(dir string) bool {
	entries, _ := os.ReadDir(filepath.Join(dir, "links"))
	return len(entries) > 0
}

// initConfig gives fresh maps their seeds and checks pinned ones for the ABI.
func (e *Enforcer) initConfig() error {
	var cfg bpfKrsiConfig
	if err := e.maps.KrsiConf.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("read krsi_conf: %w", err)
	}
	if cfg.Abi == 0 {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("seed path hashes: %w", err)
		}
		cfg = bpfKrsiConfig{
			Seed1: binary.LittleEndian.Uint64(b[:8]),
			Seed2: binary.LittleEndian.Uint64(b[8:]),
			Abi:   abi,
		}
		if err := e.maps.KrsiConf.Update(uint32(0), &cfg, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("write krsi_conf: %w", err)
		}
	}
	if cfg.Abi != abi {
		return fmt.Errorf("pinned maps in %s have layout ABI %d, this krsi needs %d: "+
			"run `krsi unload` (it stops enforcement) and start krsi again", e.pinDir, cfg.Abi, abi)
	}
	e.seed1, e.seed2 = cfg.Seed1, cfg.Seed2
	return nil
}

// Close releases this process's handles. Pinned objects stay in the kernel
// and keep enforcing; unpinned ones detach now.
func (e *Enforcer) Close() error {
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	errs = append(errs, e.maps.Close())
	return errors.Join(errs...)
}

// Attached says whether the programs this Enforcer enforces with are still
// attached: for a pinned set, whether every link is still pinned (a daemon
// that reused a set holds no link of its own, so a removed pin is a detached
// program); otherwise, whether this process still holds its links. The error
// names the programs whose links are gone and where they were pinned.
func (e *Enforcer) Attached() error {
	if e.pinDir == "" {
		if len(e.links) == 0 {
			return errors.New("krsi's programs are not attached: the enforcer was closed")
		}
		return nil
	}
	_, missing := linkPins(e.pinDir, func(p program) bool { return p.wanted(e.hooks) })
	if len(missing) > 0 {
		return fmt.Errorf("%d program links are no longer pinned in %s (%s): their hooks enforce nothing "+
			"once this process lets go; a restart of krsi attaches them again",
			len(missing), filepath.Join(e.pinDir, "links"), strings.Join(missing, ", "))
	}
	return nil
}

// Unload closes this Enforcer and removes its pins, as Unload does for its
// pin directory: enforcement stops on the node. For a daemon that is being
// uninstalled; a restart or an upgrade must keep the pins.
func (e *Enforcer) Unload() error {
	if e.pinDir == "" {
		return errors.New("nothing to unload: this enforcer pinned nothing")
	}
	closeErr := e.Close()
	e.maps = bpfMaps{} // closed: a later Close has nothing left to close
	if err := unload(e.pinDir, e.marker); err != nil {
		return err
	}
	if closeErr != nil {
		return fmt.Errorf("pins in %s removed; closing krsi's own handles: %w", e.pinDir, closeErr)
	}
	return nil
}

// Unload removes every pin under dir: the programs detach and all bindings
// are gone once the last user closes its handles. This stops enforcement.
func Unload(dir string) error { return unload(dir, DefaultMarkerPath) }

func unload(dir, marker string) error {
	if err := checkBPFFS(dir); err != nil {
		return err
	}
	// With the sets a replacement interrupted by a crash may have left.
	for _, d := range []string{nextDir(dir), dir, oldDir(dir)} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove pins in %s: %w", d, err)
		}
	}
	removeMarker(marker, dir)
	return nil
}

// bpffsMount is where systemd (and every distribution) mounts bpffs.
const bpffsMount = "/sys/fs/bpf"

// mountBPFFS mounts bpffs on /sys/fs/bpf when dir is under it and nothing is
// mounted there yet, as systemd does at boot: a node without it (a minimal
// image, a node agent's container with /sys/fs/bpf from the host mounted
// Bidirectional) would otherwise need a shell and mount(8) in an init step.
func mountBPFFS(dir string) error {
	if dir != bpffsMount && !strings.HasPrefix(filepath.Clean(dir), bpffsMount+"/") {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(bpffsMount, &st); err != nil || st.Type == unix.BPF_FS_MAGIC {
		return nil // not there (checkBPFFS says so) or mounted
	}
	if err := unix.Mount("bpf", bpffsMount, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s (nothing is mounted there): %w", bpffsMount, err)
	}
	return nil
}

func checkBPFFS(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pin directory %s: %w", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("pin directory %s is not on a BPF filesystem: mount one with "+
			"`mount -t bpf bpf /sys/fs/bpf`", dir)
	}
	return nil
}

func pinError(dir string, err error) error {
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return fmt.Errorf("pinned maps in %s were made by another krsi version (or with other map sizes): "+
			"run `krsi unload` (it stops enforcement) and start krsi again: %w", dir, err)
	}
	return fmt.Errorf("open pinned maps in %s: %w", dir, err)
}

// ErrLSMRefused: BPF LSM is listed as active but the kernel will not load LSM
// programs (seen on locked-down and sandbox kernels).
var ErrLSMRefused = errors.New("this kernel refuses BPF LSM programs")

func loadError(err error, pinDir string) error {
	if pinDir != "" && errors.Is(err, ebpf.ErrMapIncompatible) {
		return pinError(pinDir, err)
	}
	if errors.Is(err, unix.EPERM) {
		return &KernelError{
			Missing: ErrLSMRefused.Error() + " (the load fails with EPERM, though bpf is in the LSM list)",
			Fix: "run as root (CAP_BPF, CAP_SYS_ADMIN) on a kernel that allows BPF LSM programs; " +
				"lockdown or a sandboxed kernel can forbid them, and then krsi cannot enforce there",
			Kind: ErrLSMRefused,
			Err:  unix.EPERM,
		}
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier rejected krsi's programs (a krsi bug or an "+
			"unsupported kernel; please report it with this log): %+v", ve)
	}
	return fmt.Errorf("load BPF programs and maps: %w", err)
}
