package stream

import (
	"github.com/brookstream/brook/internal/streamhook"
	"github.com/brookstream/brook/internal/topo"
)

func init() {
	streamhook.Graph = func(b any) *topo.Graph { return b.(*Builder).g }
	streamhook.Policy = func(p any) topo.Policy { return p.(BadRecordPolicy).p }
}
