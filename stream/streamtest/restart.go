package streamtest

import (
	"fmt"

	"github.com/brookstream/brook/internal/topo"
	"github.com/brookstream/brook/state"
)

// Restart stops the topology and starts it again as an App does after a
// restart that lost its state directory: it commits, closes the tasks
// (calling the processors' Close), and makes them again with empty stores
// that it restores from their changelog topics before their processors
// are initialized. Stream time comes back as the App's restore brings it
// back without a local checkpoint: the largest record timestamp in the
// changelogs of the task's timestamped stores (aggregations, window
// stores). Records piped afterwards are processed by the new tasks; the
// output topics keep what was written before. Tests use it to check that
// a topology's results survive a restart: final results emitted once,
// late records still late.
func (d *Driver) Restart() {
	if d.tb != nil {
		d.tb.Helper()
	}
	if err := d.TryRestart(); err != nil {
		d.fatal(err)
	}
}

// TryRestart is Restart returning the error instead of failing the test.
func (d *Driver) TryRestart() error {
	if err := d.usable(); err != nil {
		return err
	}
	if err := d.commit(); err != nil {
		return d.fail(err)
	}
	if err := d.closeTaskDBs(); err != nil {
		return d.fail(err)
	}
	if err := d.makeTasks(d.restore); err != nil {
		return d.fail(err)
	}
	return nil
}

// restore fills t's stores from their changelog topics, as the App's
// restore does.
func (d *Driver) restore(t *topo.Task) error {
	maxTs := int64(-1)
	p := t.ID.Partition
	for _, name := range t.Sub.Stores {
		topic := d.cfg.AppID + "-" + name + "-changelog"
		log := d.topics[topic]
		if log == nil {
			continue
		}
		rs, err := t.DB.Restorer(name)
		if err != nil {
			return fmt.Errorf("streamtest: task %s: restore store %q: %w", t.ID, name, err)
		}
		timestamped := t.Sub.Timestamped[name]
		var buf []byte
		for _, r := range log.recs {
			if r.Partition != p {
				continue
			}
			v := r.Value
			if timestamped {
				if v != nil {
					buf = state.AppendTimestamped(buf[:0], r.Timestamp.UnixMilli(), v)
					v = buf
				}
				maxTs = max(maxTs, r.Timestamp.UnixMilli())
			}
			if err := rs.Apply(r.Key, v, r.Offset); err != nil {
				return fmt.Errorf("streamtest: task %s: restore store %q: %w", t.ID, name, err)
			}
		}
		rs.Advance(log.next[p])
		if err := rs.Finish(); err != nil {
			return fmt.Errorf("streamtest: task %s: restore store %q: %w", t.ID, name, err)
		}
	}
	if maxTs >= 0 {
		t.RestoreStreamTime(maxTs)
	}
	return nil
}
