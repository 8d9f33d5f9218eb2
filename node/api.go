package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-io/strata/cluster"
)

// API names (external contract).
const (
	ServiceName     = "strata"
	UserGetSubject  = "strata.api.user.get"
	maxUserIDLength = 128
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{user}", n.handleUser)
	mux.HandleFunc("GET /v1/tiers", n.handleTiers)
	mux.HandleFunc("GET /v1/cluster", n.handleCluster)
	n.modelRoutes(mux)
	mux.HandleFunc("POST /v1/cluster/nodes/{node}/leave", n.handleLeave)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := n.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	if n.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

type apiError struct {
	Error string `json:"error"`
	User  string `json:"user,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// lookup reads a user; the int is the HTTP status. consistency is "",
// "stale" or "strong".
func (n *Node) lookup(ctx context.Context, user, consistency string) (any, int) {
	if user == "" || len(user) > maxUserIDLength {
		return apiError{Error: "user must be 1–128 bytes"}, http.StatusBadRequest
	}
	if consistency != "" && consistency != cluster.Stale && consistency != cluster.Strong {
		return apiError{Error: "consistency must be stale or strong", User: user}, http.StatusBadRequest
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := n.cluster.ReadUser(ctx, user, consistency == cluster.Strong)
	switch {
	case errors.Is(err, cluster.ErrUnknownUser):
		return apiError{Error: "unknown user", User: user}, http.StatusNotFound
	case errors.Is(err, cluster.ErrClosed):
		return apiError{Error: "shutting down", User: user}, http.StatusServiceUnavailable
	case err != nil:
		n.log.Warn("user read", "user", user, "error", err)
		return apiError{Error: "unavailable: " + err.Error(), User: user}, http.StatusServiceUnavailable
	}
	return v, http.StatusOK
}

func (n *Node) handleUser(w http.ResponseWriter, r *http.Request) {
	v, status := n.lookup(r.Context(), r.PathValue("user"), r.URL.Query().Get("consistency"))
	writeJSON(w, status, v)
}

func (n *Node) handleCluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := n.cluster.Status(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (n *Node) handleLeave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	node := r.PathValue("node")
	if err := n.cluster.Leave(ctx, node, 0); err != nil {
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"node": node, "status": cluster.NodeLeaving})
}

// TiersResponse is the body of GET /v1/tiers.
type TiersResponse struct {
	Model string                      `json:"model"`
	Tiers map[string]map[string]int64 `json:"tiers"`
}

func (n *Node) handleTiers(w http.ResponseWriter, r *http.Request) {
	counts, err := n.cluster.TierCounts()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, TiersResponse{Model: n.cluster.ModelPlan().ActiveID(), Tiers: counts})
}

// UserRequest is the body of a strata.api.user.get request.
type UserRequest struct {
	User        string `json:"user"`
	Consistency string `json:"consistency,omitempty"` // stale (default) or strong
}

func (n *Node) startService() error {
	svc, err := micro.AddService(n.nc, micro.Config{
		Name: ServiceName, Version: "1.0.0", Description: "Strata user tiering: user lookups",
	})
	if err != nil {
		return err
	}
	n.svc = svc
	return svc.AddEndpoint("user_get", micro.HandlerFunc(func(req micro.Request) {
		var q UserRequest
		dec := json.NewDecoder(bytesReader(req.Data()))
		dec.DisallowUnknownFields()
		err := dec.Decode(&q)
		if err == nil && dec.More() {
			err = errors.New("trailing data after the request object")
		}
		if err != nil {
			body, _ := json.Marshal(apiError{Error: "bad request: " + err.Error()})
			_ = req.Error("400", "bad request", body)
			return
		}
		v, status := n.lookup(context.Background(), q.User, q.Consistency)
		body, _ := json.Marshal(v)
		if status != http.StatusOK {
			_ = req.Error(itoa(status), http.StatusText(status), body)
			return
		}
		_ = req.Respond(body)
	}), micro.WithEndpointSubject(UserGetSubject))
}
