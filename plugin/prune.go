package plugin

import (
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/krsi-dev/krsi/enforced"
)

// dropUnusedProfiles removes from the kernel the profiles no cgroup is bound
// or staged to, other than those this process loaded: after a restart, the
// ones an earlier krsi loaded for containers that are gone. Without it a
// daemon that is restarted while profiles come and go would fill
// krsi_profiles and krsi_rules. Call with p.mu held, after reconciling.
func (p *Plugin) dropUnusedProfiles() {
	keep := make([]enforced.ProfileID, 0, len(p.state.loaded))
	for _, l := range p.state.loaded {
		keep = append(keep, l.id)
	}
	removed, err := p.enf.RemoveUnusedProfiles(keep)
	if err != nil {
		p.log.WithError(err).Warn("removing profiles no container uses")
	}
	if len(removed) > 0 {
		p.log.WithFields(logrus.Fields{"profiles": strings.Join(removed, ","), "count": len(removed)}).
			Info("removed profiles no container uses")
	}
}
