package etcdstore

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// compactKey records the last compaction, so that of several apiservers on
// one etcd only one compacts per interval (the scheme Kubernetes uses).
const compactKey = "compact_rev_key"

// RunCompactor compacts etcd history every interval, keeping one interval
// of history: at each tick it compacts to the revision it saw at the tick
// before. It returns when ctx ends.
func RunCompactor(ctx context.Context, client *clientv3.Client, interval time.Duration, log *zap.Logger) {
	if interval <= 0 {
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var version, rev int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		nextVersion, nextRev, err := compactOnce(ctx, client, version, rev)
		if err != nil {
			log.Warn("compaction failed", zap.Error(err))
			continue
		}
		version, rev = nextVersion, nextRev
	}
}

// compactOnce claims the compaction for this interval by bumping the
// version of compactKey, and compacts to rev (the revision current at the
// previous claim).
func compactOnce(ctx context.Context, client *clientv3.Client, version, rev int64) (int64, int64, error) {
	resp, err := client.Txn(ctx).If(
		clientv3.Compare(clientv3.Version(compactKey), "=", version),
	).Then(
		clientv3.OpPut(compactKey, strconv.FormatInt(rev, 10)),
	).Else(
		clientv3.OpGet(compactKey),
	).Commit()
	if err != nil {
		return version, rev, err
	}
	curRev := resp.Header.Revision
	if !resp.Succeeded {
		// Another apiserver compacted: follow its version.
		kv := resp.Responses[0].GetResponseRange().Kvs[0]
		return kv.Version, curRev, nil
	}
	if rev > 0 {
		if _, err := client.Compact(ctx, rev); err != nil {
			return version + 1, curRev, err
		}
	}
	return version + 1, curRev, nil
}
