package stream

import (
	"errors"
	"fmt"
	"testing"

	"github.com/brookstream/brook/internal/runtime"
	"github.com/brookstream/brook/internal/topo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHeadersMatchTopo: the documented header keys are the ones the tasks
// write.
func TestHeadersMatchTopo(t *testing.T) {
	assert.Equal(t, []string{topo.HeaderError, topo.HeaderTopic, topo.HeaderPartition, topo.HeaderOffset, topo.HeaderTask},
		[]string{HeaderError, HeaderTopic, HeaderPartition, HeaderOffset, HeaderTask})
}

// TestExportErr: internal errors, however wrapped, come out as this
// package's types with the same text, and sentinels still match.
func TestExportErr(t *testing.T) {
	sentinel := errors.New("boom")
	in := fmt.Errorf("brook: task 0_1: %w", &topo.FatalError{Err: errors.Join(
		&topo.RecordError{Topic: "in", Partition: 1, Offset: 7, Task: "0_1", Err: &topo.SerdeError{Op: "deserialize", Part: "value", Topic: "in", Node: "src", Err: sentinel}},
		&runtime.MissingTopicsError{Topics: []string{"x"}},
	)})
	out := exportErr(in)
	assert.Equal(t, in.Error(), out.Error())
	assert.ErrorIs(t, out, sentinel)
	var re *RecordError
	require.ErrorAs(t, out, &re)
	assert.Equal(t, RecordError{Topic: "in", Partition: 1, Offset: 7, Task: "0_1", Err: re.Err}, *re)
	var se *SerdeError
	require.ErrorAs(t, out, &se)
	assert.Equal(t, "value", se.Part)
	var mt *MissingTopicsError
	require.ErrorAs(t, out, &mt)
	assert.Equal(t, []string{"x"}, mt.Topics)
	var tre *topo.RecordError
	assert.False(t, errors.As(out, &tre), "no internal type left")
	plain := fmt.Errorf("x: %w", sentinel)
	assert.Same(t, plain, exportErr(plain))
}
