package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch rescans the directories when files in them change, and calls
// onChange with the refs that changed (as Reload returns them) whenever a
// rescan changed something. It returns nil when ctx ends, or an error if
// it cannot watch at all.
//
// Events are debounced: a rescan happens once no event has arrived for the
// debounce time (DefaultDebounce, see WithDebounce), and at the latest ten
// debounce times after the first event of a burst. Every event in a
// directory counts, not only those on *.yaml files, so that an editor's
// write-and-rename and a Kubernetes ConfigMap's symlink swap are seen. A
// directory that does not exist is watched through its parent, if that
// exists, and picked up when it is created; a directory that is removed
// loses its profiles and is watched for again the same way. A directory
// whose parent does not exist either is only seen by a later Reload.
//
// onChange runs on Watch's goroutine: later rescans wait for it to return.
// Changes made by a direct call to Reload are reported to that call, not
// to onChange.
func (c *Catalog) Watch(ctx context.Context, onChange func(refs []string)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch profile directories: %w", err)
	}
	defer w.Close()
	if err := c.addWatches(w); err != nil {
		return fmt.Errorf("watch profile directories: %w", err)
	}
	// The directories may have changed between Open and the watches.
	c.rescan(onChange, w)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
	var deadline time.Time
	poke := func() {
		now := time.Now()
		if !pending {
			pending = true
			deadline = now.Add(10 * c.debounce)
		}
		timer.Reset(min(c.debounce, max(deadline.Sub(now), 0)))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watch profile directories: watcher closed")
			}
			if c.relevant(ev.Name) {
				poke()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watch profile directories: watcher closed")
			}
			// Events may have been lost (queue overflow): rescan.
			c.log.WithError(err).Warn("watching profile directories: rescanning")
			poke()
		case <-timer.C:
			pending = false
			c.rescan(onChange, w)
		}
	}
}

func (c *Catalog) rescan(onChange func([]string), w *fsnotify.Watcher) {
	if err := c.addWatches(w); err != nil {
		c.log.WithError(err).Warn("watching profile directories")
	}
	changed, err := c.Reload()
	if err != nil {
		c.log.WithError(err).Error("rescanning profile directories failed; the profiles loaded before stay in force")
		return
	}
	if len(changed) > 0 && onChange != nil {
		onChange(changed)
	}
}

// addWatches watches each directory that exists, and the parent of each
// that does not. Adding a path already watched is harmless.
func (c *Catalog) addWatches(w *fsnotify.Watcher) error {
	for _, d := range c.dirs {
		path := d
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			path = filepath.Dir(d)
			if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				continue
			}
		}
		if err := w.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
	}
	return nil
}

// relevant: an event on a directory itself or on anything inside one.
func (c *Catalog) relevant(name string) bool {
	name = filepath.Clean(name)
	return slices.Contains(c.dirs, name) || slices.Contains(c.dirs, filepath.Dir(name))
}
