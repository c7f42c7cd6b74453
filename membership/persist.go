package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// peerFileVersion is the version of the peer file layout.
const peerFileVersion = 1

// maxPeerFileSize bounds what is read from a peer file.
const maxPeerFileSize = 4 << 20

// KnownMember is one entry of the peer file.
type KnownMember struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

type peerFile struct {
	Version int           `json:"version"`
	SavedAt time.Time     `json:"saved_at"`
	Members []KnownMember `json:"members"`
}

// SavePeerFile writes members to path atomically: a temporary file in the
// same directory is written, fsynced and renamed over path, then the
// directory is fsynced (best effort). At most max members are written.
func SavePeerFile(path string, members []KnownMember, max int) error {
	if len(members) > max {
		members = members[:max]
	}
	data, err := json.MarshalIndent(peerFile{Version: peerFileVersion, SavedAt: time.Now().UTC(), Members: members}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("membership: save peers: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("membership: save peers: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("membership: save peers: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("membership: save peers: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("membership: save peers: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadPeerFile reads a peer file written by SavePeerFile. It returns at most
// max members with valid addresses; invalid entries are skipped.
func LoadPeerFile(path string, max int) ([]KnownMember, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPeerFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPeerFileSize {
		return nil, fmt.Errorf("membership: peer file %s larger than %d bytes", path, maxPeerFileSize)
	}
	var pf peerFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, fmt.Errorf("membership: corrupt peer file %s: %w", path, err)
	}
	if pf.Version != peerFileVersion {
		return nil, fmt.Errorf("membership: peer file %s has version %d, want %d", path, pf.Version, peerFileVersion)
	}
	out := make([]KnownMember, 0, min(len(pf.Members), max))
	for _, km := range pf.Members {
		if len(out) == max {
			break
		}
		if _, _, err := net.SplitHostPort(km.Addr); err != nil {
			continue
		}
		out = append(out, km)
	}
	return out, nil
}

// savePeers writes the alive members to the peer file, if one is configured.
// An empty member list does not overwrite an earlier file.
func (m *Membership) savePeers() {
	if m.opts.peerFile == "" {
		return
	}
	ml := m.memberlist()
	if ml == nil {
		return
	}
	var known []KnownMember
	for _, n := range m.liveMembers() {
		if n.name == string(m.self) {
			continue
		}
		known = append(known, KnownMember{Name: n.name, Addr: n.addr()})
	}
	if len(known) == 0 {
		return
	}
	if err := SavePeerFile(m.opts.peerFile, known, m.opts.maxPersisted); err != nil {
		m.persistErrors.Add(1)
		m.log.Warn("membership: saving known peers failed", "path", m.opts.peerFile, "err", err)
		return
	}
	m.persistSaves.Add(1)
}

// loadPeers reads the peer file; problems are logged, never fatal.
func (m *Membership) loadPeers() []string {
	if m.opts.peerFile == "" {
		return nil
	}
	known, err := LoadPeerFile(m.opts.peerFile, m.opts.maxPersisted)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			m.log.Warn("membership: no peer file yet", "path", m.opts.peerFile)
		} else {
			m.log.Warn("membership: ignoring unreadable peer file", "path", m.opts.peerFile, "err", err)
		}
		return nil
	}
	addrs := make([]string, 0, len(known))
	for _, km := range known {
		if km.Name == string(m.self) {
			continue
		}
		addrs = append(addrs, km.Addr)
	}
	m.log.Info("membership: loaded known peers", "path", m.opts.peerFile, "count", len(addrs))
	return addrs
}
