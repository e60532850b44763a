package main

// These tests run the sessionizer through the stream/streamtest driver: the
// same topology, processor and store as under an App, with no broker. The
// driver's wall clock starts at the Unix epoch (time 0) and moves only when
// the test calls AdvanceWallClock, which fires the wall-clock punctuators
// then due: tests of time-driven processors are exact and instant.

import (
	"maps"
	"testing"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// endedAt is an output record: the session and the record's timestamp,
// which is the time of the punctuation that ended it.
type endedAt struct {
	Ended
	At int64 // ms
}

// readEnded reads the unread records of the output topic.
func readEnded(t *testing.T, out *streamtest.OutputTopic[string, Ended]) []endedAt {
	t.Helper()
	var got []endedAt
	for _, r := range out.Records() {
		assert.Equal(t, r.Key, r.Value.User, "a session is keyed by its user")
		got = append(got, endedAt{r.Value, r.Timestamp})
	}
	return got
}

// advance moves the driver's clock by steps of the punctuation interval,
// so that the punctuator fires at each one (a single big step would fire
// it once).
func advance(d *streamtest.Driver, by time.Duration) {
	for range by / punctuateEvery {
		d.AdvanceWallClock(punctuateEvery)
	}
}

func TestSessionizer(t *testing.T) {
	// Three partitions, so three tasks with a sessionizer and a part of the
	// store each; the driver's Store reads them all. AppID names the
	// changelog as under the example's App.
	d := streamtest.New(t, buildTopology(time.Second), streamtest.Config{AppID: appID, Partitions: 3})
	clicks := d.Input(clicksTopic, serde.String(), serde.String())
	sessions := d.Output(sessionsTopic, serde.String(), serde.JSON[Ended]())
	store := d.Store[string, Session](storeName)

	clicks.Pipe("ann", "/home") // at 0
	clicks.Pipe("bob", "/home")
	advance(d, 200*time.Millisecond)
	clicks.Pipe("ann", "/products") // at 200
	advance(d, 200*time.Millisecond)
	clicks.Pipe("carl", "/about") // at 400
	clicks.Pipe("", "/about")     // no user: ignored
	assert.Equal(t, map[string]Session{
		"ann":  {LastSeen: 200, Clicks: 2},
		"bob":  {LastSeen: 0, Clicks: 1},
		"carl": {LastSeen: 400, Clicks: 1},
	}, maps.Collect(store.All()))

	// At 1000 bob has been idle for 1s, not longer: his session goes on.
	advance(d, 600*time.Millisecond)
	assert.True(t, sessions.Empty())
	// At 1200 it ends.
	advance(d, 200*time.Millisecond)
	assert.Equal(t, []endedAt{{Ended{User: "bob", Clicks: 1}, 1200}}, readEnded(t, sessions))
	assert.Equal(t, map[string]Session{
		"ann":  {LastSeen: 200, Clicks: 2},
		"carl": {LastSeen: 400, Clicks: 1},
	}, maps.Collect(store.All()))

	// ann clicks again at 1200 (idle 1s): her session goes on, carl's ends
	// at 1600, ann's at 2400.
	clicks.Pipe("ann", "/cart")
	advance(d, 1200*time.Millisecond)
	assert.Equal(t, []endedAt{
		{Ended{User: "carl", Clicks: 1}, 1600},
		{Ended{User: "ann", Clicks: 3}, 2400},
	}, readEnded(t, sessions))
	assert.Empty(t, maps.Collect(store.All()))

	// A user whose session ended starts a new one.
	clicks.Pipe("ann", "/checkout") // at 2400
	assert.Equal(t, map[string]Session{"ann": {LastSeen: 2400, Clicks: 1}}, maps.Collect(store.All()))
	_, ok, err := store.Get("bob")
	require.NoError(t, err)
	assert.False(t, ok)
	advance(d, 1200*time.Millisecond)
	assert.Equal(t, []endedAt{{Ended{User: "ann", Clicks: 1}, 3600}}, readEnded(t, sessions))
	assert.Empty(t, maps.Collect(store.All()))

	// The store is backed by its changelog, like the stores of the DSL:
	// the deletions are tombstones there, so a restored store would be
	// empty too.
	changelog := d.Output(appID+"-"+storeName+"-changelog", serde.String(), serde.JSON[Session]())
	assert.Empty(t, changelog.Latest())
}

// When the clock jumps, the punctuator fires once, at the new time, and
// ends every idle session then.
func TestSessionizerClockJump(t *testing.T) {
	d := streamtest.New(t, buildTopology(5*time.Second), streamtest.Config{Partitions: 2})
	clicks := d.Input(clicksTopic, serde.String(), serde.String())
	sessions := d.Output(sessionsTopic, serde.String(), serde.JSON[Ended]())
	for _, c := range firstClicks {
		clicks.Pipe(c.user, c.page)
	}
	d.AdvanceWallClock(5 * time.Second) // idle 5s, not longer
	assert.True(t, sessions.Empty())
	d.AdvanceWallClock(time.Hour)
	// The tasks fire in order, each forwarding its sessions in store (key)
	// order: compare by user.
	assert.Equal(t, map[string]Ended{
		"ann":  {User: "ann", Clicks: 3},
		"bob":  {User: "bob", Clicks: 2},
		"carl": {User: "carl", Clicks: 1},
	}, sessions.Latest())
	assert.Empty(t, maps.Collect(d.Store[string, Session](storeName).All()))
}
