package policy

import (
	"strings"
	"testing"
)

func ptr(b bool) *bool { return &b }

func TestCheckRefusesBadPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"pattern without a prefix", Config{Default: Rules{Profiles: []string{"team-a-*"}}},
			`policy.default.profiles[0]: "team-a-*": want builtin/NAME or localhost/NAME, where '*' matches any run of characters ("builtin/*", "localhost/team-a-*"), or "*" for any profile`},
		{"empty pattern", Config{Namespaces: map[string]Rules{"shop": {Profiles: []string{"builtin/wx", ""}}}},
			`policy.namespaces.shop.profiles[1]: empty pattern; want builtin/NAME or localhost/NAME, where '*' matches any run of characters ("builtin/*", "localhost/team-a-*"), or "*" for any profile`},
		{"unconfined as a pattern", Config{Default: Rules{Profiles: []string{"unconfined"}}},
			`policy.default.profiles[0]: "unconfined" is not a profile: allowUnconfined says whether pods may opt out`},
		{"a character no profile name has", Config{Default: Rules{Profiles: []string{"localhost/Web?"}}},
			`policy.default.profiles[0]: "localhost/Web?": 'W' cannot be in a profile name (lower-case letters, digits, '-', '.', '_'; '*' as the wildcard)`},
		{"too many stars", Config{Default: Rules{Profiles: []string{"localhost/*a*b*c*d*"}}},
			`policy.default.profiles[0]: "localhost/*a*b*c*d*" has more than 4 '*'`},
		{"a built-in as binding image profile", Config{Default: Rules{BindingImageProfiles: []string{"builtin/wx"}}},
			`policy.default.bindingImageProfiles[0]: "builtin/wx": want localhost/NAME, where '*' matches any run of characters ("localhost/nginx", "localhost/*"), or "*" for every image profile (built-in profiles select no image)`},
		{"a namespace that is not a name", Config{Namespaces: map[string]Rules{"Team_A": {}}},
			`policy.namespaces: "Team_A" is not a namespace name (a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)`},
		{"too long", Config{Default: Rules{Profiles: []string{"localhost/" + strings.Repeat("a", 300)}}},
			`policy.default.profiles[0]: 310 bytes long, at most 256`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if err == nil || err.Error() != tc.err {
				t.Errorf("Check:\n got %v\nwant %s", err, tc.err)
			}
		})
	}
}

func TestForResolvesNamespaceThenDefaultThenNode(t *testing.T) {
	cfg := Config{
		Default:    Rules{Profiles: []string{"builtin/*"}, AllowModeRelax: ptr(true)},
		Namespaces: map[string]Rules{"a": {Profiles: []string{}, AllowUnconfined: ptr(true), BindingImageProfiles: []string{"localhost/*"}}},
	}
	node := Node{AllowUnconfined: false, AllowModeRelax: false}
	for _, tc := range []struct {
		ns                                   string
		profiles, binding, unconfined, relax string
	}{
		{"a", "policy.namespaces.a.profiles: []", "policy.namespaces.a.bindingImageProfiles: [localhost/*]",
			"policy.namespaces.a.allowUnconfined: true", "policy.default.allowModeRelax: true"},
		{"b", "policy.default.profiles: [builtin/*]", "policy.default.bindingImageProfiles (not set: none)",
			"allowUnconfined: false", "policy.default.allowModeRelax: true"},
	} {
		r := cfg.For(tc.ns, node)
		for _, got := range [][2]string{{r.Profiles.String(), tc.profiles}, {r.Binding.String(), tc.binding},
			{r.AllowUnconfined.String(), tc.unconfined}, {r.AllowModeRelax.String(), tc.relax}} {
			if got[0] != got[1] {
				t.Errorf("namespace %s: got %s, want %s", tc.ns, got[0], got[1])
			}
		}
	}
	// The zero policy is today's behaviour: any profile, the node's flags.
	r := Config{}.For("x", Node{AllowUnconfined: true})
	if !r.Profiles.Match("localhost/anything") || r.Binding.Match("localhost/web") || !r.AllowUnconfined.Allowed || r.AllowModeRelax.Allowed {
		t.Errorf("zero policy: %+v", r)
	}
	if (Config{}).Check() != nil {
		t.Error("the zero policy does not pass Check")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"builtin/*", "builtin/wx", true},
		{"builtin/*", "localhost/wx", false},
		{"localhost/team-a-*", "localhost/team-a-web", true},
		{"localhost/team-a-*", "localhost/team-b-web", false},
		{"*", "localhost/x", true},
		{"localhost/web", "localhost/web", true},
		{"localhost/web", "localhost/web2", false},
		{"localhost/a*a", "localhost/a", false},
		{"*/w*", "builtin/wx", true},
	} {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %t", tc.pattern, tc.s, got)
		}
	}
}

func TestRecording(t *testing.T) {
	r := DefaultRecording()
	if err := r.Check(); err != nil || r.Allows("default") {
		t.Fatalf("default recording: %v, allows default: %t", err, r.Allows("default"))
	}
	r.Namespaces = []string{"dev"}
	if !r.Allows("dev") || r.Allows("prod") || r.Rule() != "recording.namespaces: [dev]" {
		t.Errorf("recording %+v", r)
	}
	r.Namespaces = []string{"*"}
	if !r.Allows("prod") {
		t.Error(`"*" does not allow every namespace`)
	}
	for _, tc := range []struct {
		r   Recording
		err string
	}{
		{Recording{Namespaces: []string{"Dev"}, MaxRecordings: 1, MaxPaths: 1, MaxBytes: 1}, `recording.namespaces[0]: "Dev" is not a namespace name (a DNS label) or "*" (every namespace)`},
		{Recording{Namespaces: []string{"dev", "dev"}, MaxRecordings: 1, MaxPaths: 1, MaxBytes: 1}, `recording.namespaces[1]: dev is listed twice`},
		{Recording{MaxRecordings: 0, MaxPaths: 1, MaxBytes: 1}, `recording.maxRecordings: 0, want 1 to 10000 (to turn recording off, leave recording.namespaces empty)`},
		{Recording{MaxRecordings: 1, MaxPaths: 1, MaxBytes: 1 << 30}, `recording.maxBytes: 1073741824, want 1 to 67108864 (to turn recording off, leave recording.namespaces empty)`},
	} {
		if err := tc.r.Check(); err == nil || err.Error() != tc.err {
			t.Errorf("Check(%+v):\n got %v\nwant %s", tc.r, err, tc.err)
		}
	}
}
