package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/scoring"
)

// The model endpoints (external contract):
//
//	GET    /v1/model                  the plan (active model, shadow candidate, their sources) and every shard's progress
//	PUT    /v1/model?mode=&file=      body: a model file; make it the active model at once
//	POST   /v1/model/shadow?file=     body: a model file; run it in shadow beside the active model
//	GET    /v1/model/shadow           what the shadow model would change: its tier sizes and the moves between tiers
//	POST   /v1/model/promote?mode=    make the shadow model the active one
//	DELETE /v1/model/shadow           stop the shadow model
//
// mode is emit (default: users whose tier changes get a transition, cause
// "model") or rebaseline (silently). Every change may carry ?base=N, the plan
// generation it was made against: it is refused (409) if the plan moved on.

// maxModelBody bounds a model file sent to the API.
const maxModelBody = 256 << 10

// ModelProblemResponse is the 400 body for a model file that does not load.
type ModelProblemResponse struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems"` // file:line:column: reason
}

func (n *Node) modelRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/model", n.handleModel)
	mux.HandleFunc("PUT /v1/model", n.modelChange(cluster.ModelActivate))
	mux.HandleFunc("POST /v1/model/shadow", n.modelChange(cluster.ModelShadow))
	mux.HandleFunc("POST /v1/model/promote", n.modelChange(cluster.ModelPromote))
	mux.HandleFunc("DELETE /v1/model/shadow", n.modelChange(cluster.ModelDiscard))
	mux.HandleFunc("GET /v1/model/shadow", n.handleShadowReport)
	mux.HandleFunc("GET /v1/tiers/{dimension}/{tier}/users", n.handleMembers)
	mux.HandleFunc("DELETE /v1/users/{user}/attributes", n.handleEraseAttributes)
	mux.HandleFunc("GET /v1/users/{user}/explain", n.handleExplain)
	mux.HandleFunc("GET /v1/model/report", n.handleModelReport)
}

func (n *Node) handleModel(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := n.cluster.ModelsStatus(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	for i := range st.Shards {
		st.Shards[i].Counts = nil
	}
	writeJSON(w, http.StatusOK, st)
}

// modelChange serves the endpoints that change the plan.
func (n *Node) modelChange(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ch := cluster.ModelChange{Action: action, Mode: q.Get("mode")}
		if b := q.Get("base"); b != "" {
			base, err := strconv.ParseUint(b, 10, 64)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("base %q: want a plan generation", b)})
				return
			}
			ch.Base = base
		}
		if ch.Mode != "" && ch.Mode != cluster.ModeEmit && ch.Mode != cluster.ModeRebaseline {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("mode %q: want %s or %s", ch.Mode, cluster.ModeEmit, cluster.ModeRebaseline)})
			return
		}
		if action == cluster.ModelActivate || action == cluster.ModelShadow {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxModelBody+1))
			if err != nil {
				writeJSON(w, http.StatusBadRequest, apiError{Error: "reading the model file: " + err.Error()})
				return
			}
			file := q.Get("file")
			if file == "" {
				file = "model.hcl"
			}
			if len(bytes.TrimSpace(body)) == 0 {
				writeJSON(w, http.StatusBadRequest, apiError{Error: "the body must be a model file"})
				return
			}
			// ChangeModel checks and compiles it (an invalid one: 400 below).
			ch.Source = &cluster.ModelSource{File: file, Source: string(body)}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		plan, err := n.cluster.ChangeModel(ctx, ch)
		switch {
		case errors.Is(err, scoring.ErrInvalidModel):
			writeModelProblem(w, err)
		case errors.Is(err, cluster.ErrModelConflict):
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		default:
			n.log.Info("model plan changed", "action", action, "generation", plan.Generation,
				"active", plan.ActiveID(), "shadow", sourceID(plan.Candidate))
			writeJSON(w, http.StatusOK, plan)
		}
	}
}

func sourceID(s *cluster.ModelSource) string {
	if s == nil {
		return ""
	}
	return s.ID
}

// writeModelProblem answers 400 with every problem of a model file.
func writeModelProblem(w http.ResponseWriter, err error) {
	lines := strings.Split(err.Error(), "\n")
	resp := ModelProblemResponse{Error: lines[0]}
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			resp.Problems = append(resp.Problems, l)
		}
	}
	writeJSON(w, http.StatusBadRequest, resp)
}

// ShadowReport is the body of GET /v1/model/shadow.
type ShadowReport struct {
	Active string `json:"active"`
	Shadow string `json:"shadow"`
	// Complete: every shard has evaluated every user under the shadow
	// model (until then the figures cover the users evaluated so far).
	Complete bool `json:"complete"`
	// Tiers are the shadow model's tier sizes.
	Tiers map[string]map[string]int64 `json:"tiers"`
	// Moves lists, per shadow dimension, the users whose tier would change:
	// from their tier under the active model ("" if that model has no such
	// dimension or does not place them) to their shadow tier.
	Moves map[string][]ShadowMove `json:"moves"`
	// Moving is how many (user, dimension) pairs would change.
	Moving int64 `json:"moving"`
}

// ShadowMove is one (from, to) pair of the shadow report.
type ShadowMove struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Users int64  `json:"users"`
}

func (n *Node) handleShadowReport(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rep, err := n.cluster.ShadowCounts(ctx)
	switch {
	case errors.Is(err, cluster.ErrModelConflict):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	out := ShadowReport{Active: rep.Active, Shadow: rep.Shadow, Complete: rep.Complete, Tiers: rep.Tiers,
		Moves: map[string][]ShadowMove{}}
	for dim, pairs := range rep.Moves {
		for p, users := range pairs {
			if p[0] == p[1] || users == 0 {
				continue
			}
			out.Moves[dim] = append(out.Moves[dim], ShadowMove{From: p[0], To: p[1], Users: users})
			out.Moving += users
		}
		sort.Slice(out.Moves[dim], func(i, j int) bool {
			a, b := out.Moves[dim][i], out.Moves[dim][j]
			if a.Users != b.Users {
				return a.Users > b.Users
			}
			return a.From+"\x00"+a.To < b.From+"\x00"+b.To
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// applyModelFile makes the configured model file the cluster's active
// model, unless it already is or the cluster runs a newer version of it. It
// retries until the control group answers or the node closes.
func (n *Node) applyModelFile(ctx context.Context, src *cluster.ModelSource) {
	delay := 100 * time.Millisecond
	for {
		plan := n.cluster.ModelPlan()
		if reason := modelFileSkip(&plan, src); reason != "" {
			n.log.Info("model file: "+reason, "file", src.File, "model", src.ID, "active", plan.ActiveID())
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		plan, err := n.cluster.ChangeModel(cctx, cluster.ModelChange{Action: cluster.ModelActivate, Source: src,
			Mode: n.cfg.ModelMode, Base: plan.Generation})
		cancel()
		if err == nil {
			n.log.Info("model file activated", "file", src.File, "model", src.ID, "mode", n.cfg.ModelMode,
				"generation", plan.Generation)
			return
		}
		if errors.Is(err, scoring.ErrInvalidModel) {
			n.log.Error("model file refused", "file", src.File, "error", err)
			return
		}
		n.log.Debug("model file: retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// modelFileSkip says why a configured model file is not activated ("" if
// it should be): it is active already, or a newer version of it is.
func modelFileSkip(plan *cluster.ModelPlan, src *cluster.ModelSource) string {
	if plan.Active != nil && plan.Active.ID == src.ID {
		if plan.Active.Source != src.Source {
			return "the active model has this name and version but another text (give the file a new version); keeping the active model"
		}
		return "already active"
	}
	name, v := cluster.SplitModelID(src.ID)
	if aname, av := cluster.SplitModelID(plan.ActiveID()); aname == name && av > v {
		return "the cluster runs a newer version; keeping it"
	}
	return ""
}

// readModelFile loads and checks the configured model file.
func readModelFile(path string) (*cluster.ModelSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node: model file: %w", err)
	}
	return cluster.ParseModelSource(filepath.Base(path), b)
}

// MembersResponse is the body of GET /v1/tiers/{dimension}/{tier}/users.
type MembersResponse struct {
	Dimension string   `json:"dimension"`
	Tier      string   `json:"tier"`
	Users     []string `json:"users"`
	// NextCursor continues the listing (?cursor=); "" on the last page.
	NextCursor string `json:"next_cursor"`
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	dim, tier := r.PathValue("dimension"), r.PathValue("tier")
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		v, err := strconv.Atoi(l)
		if err != nil || v < 1 || v > 1000 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("limit %q: want 1..1000", l)})
			return
		}
		limit = v
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(b) == 0 || len(b) > maxUserIDLength {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("cursor %q: not a cursor this API returned", c)})
			return
		}
		after = string(b)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	counts, err := n.cluster.TierCountsContext(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	if _, ok := counts[dim][tier]; !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no tier %q in dimension %q of the active model", tier, dim)})
		return
	}
	users, more, err := n.cluster.Members(ctx, dim, tier, after, limit)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	resp := MembersResponse{Dimension: dim, Tier: tier, Users: users}
	if resp.Users == nil {
		resp.Users = []string{}
	}
	if more && len(users) > 0 {
		resp.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1]))
	}
	writeJSON(w, http.StatusOK, resp)
}

// EraseResponse is the body of DELETE /v1/users/{user}/attributes.
type EraseResponse struct {
	User  string `json:"user"`
	Event string `json:"event"` // the ID of the profile_erase event published for it
}

// handleEraseAttributes erases a user's attributes and tags: it publishes a
// profile_erase event on the user's subject, so the erasure is ordered
// with the user's other events and replicated like them. 202 once
// JetStream has stored the event.
func (n *Node) handleEraseAttributes(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if user == "" || len(user) > maxUserIDLength || strings.ContainsAny(user, ".*> \t\r\n") {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "user must be 1–128 bytes and a single subject token", User: user})
		return
	}
	id := "erase-" + nuid.Next()
	body, err := json.Marshal(map[string]any{"id": id, "user": user, "type": scoring.TypeProfileErase,
		"ts": n.now().UnixMilli()})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, err := n.js.Publish(ctx, cluster.EventsPrefix+user, body, jetstream.WithMsgID(id)); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "publishing the erase event: " + err.Error(), User: user})
		return
	}
	writeJSON(w, http.StatusAccepted, EraseResponse{User: user, Event: id})
}

// now reads the node's clock (the wall clock unless a test injects one).
func (n *Node) now() time.Time {
	if n.cfg.Clock != nil {
		return n.cfg.Clock.Now()
	}
	return time.Now()
}

// handleExplain serves GET /v1/users/{user}/explain.
func (n *Node) handleExplain(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if user == "" || len(user) > maxUserIDLength {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "user must be 1–128 bytes", User: user})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, err := n.cluster.Explain(ctx, user)
	switch {
	case errors.Is(err, cluster.ErrUnknownUser):
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown user", User: user})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error(), User: user})
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// handleModelReport serves GET /v1/model/report?sample=N: N users (default
// 100 000, spread over the shards; 0 reads every user).
func (n *Node) handleModelReport(w http.ResponseWriter, r *http.Request) {
	sample := 100_000
	if v := r.URL.Query().Get("sample"); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || s < 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("sample %q: want a number of users ≥ 0", v)})
			return
		}
		sample = s
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	rep, err := n.cluster.ModelReport(ctx, sample)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
