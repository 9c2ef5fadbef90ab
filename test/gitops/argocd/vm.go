// Package argocd runs the operator's Argo CD health checks the way Argo CD runs them, and
// generates the files a platform team gives Argo CD (see Generate).
//
// Argo CD's own package (github.com/argoproj/argo-cd/v3/util/lua) cannot be imported here: v3.6.2
// needs Go 1.27 and its github.com/argoproj/argo-cd/gitops-engine/v3 module does not build with
// this project's toolchain. What this package reproduces, from Argo CD v3.6.2:
//
//   - util/lua/lua.go, VM.runLuaWithResourceActionParameters: a gopher-lua v1.1.2 state (the
//     version of Argo CD's go.mod, and of this project's) created with SkipOpenLibs unless
//     UseOpenLibs; then, in this order, the package, base and table libraries, Argo CD's "safe" os
//     library (util/lua/oslib_safe.go), a preload of that os library for require("os"), a
//     one-second deadline, the global actionParams (empty for a health check) and the global obj.
//     The script is compiled with LoadString and called with PCall.
//   - util/lua/lua.go, VM.ExecuteHealthLua: the returned table encoded to JSON the way
//     layeh.com/gopher-json encodes it and decoded into gitops-engine's health.HealthStatus; an
//     empty table is an empty status, a status Argo CD does not know is Unknown, nil is no
//     health, anything else is an error.
//   - util/lua/lua.go, VM.GetHealthScript: a script from argocd-cm (exact group/kind key, with its
//     useOpenLibs) before a built-in one; built-in scripts always run with the libraries open.
//   - util/settings/settings.go, appendResourceOverridesFromSplitKeys and convertToOverrideKey:
//     how argocd-cm's resource.customizations.<type>.<group_kind> keys are read.
//   - resource_customizations/embed.go (`//go:embed all:*`) as the go command embeds it: see
//     EmbeddedFS.
//
// Wildcard customizations (keys and directories with * or _) are not reproduced: the operator
// ships none, and the tests refuse any.
package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HealthStatus is gitops-engine's health.HealthStatus: what a health script returns, as Argo CD
// decodes it.
type HealthStatus struct {
	Status          string `json:"status,omitempty"`
	Message         string `json:"message,omitempty"`
	DeletionMessage string `json:"deletionMessage,omitempty"`
}

// The health statuses Argo CD accepts from a script.
var validStatus = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

// VM runs one Lua script against one object, as Argo CD's lua.VM does.
type VM struct {
	// UseOpenLibs opens every gopher-lua library before Argo CD's own set. Argo CD sets it for
	// its built-in scripts and for an argocd-cm script whose
	// resource.customizations.useOpenLibs.<group_kind> is true; an argocd-cm script runs without
	// it by default.
	UseOpenLibs bool
}

// ExecuteHealthLua runs a health script on obj: nil with no error when the script returns nil.
func (vm VM) ExecuteHealthLua(obj *unstructured.Unstructured, script string) (*HealthStatus, error) {
	l, err := vm.run(obj, script)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return nil, nil
	case lua.LTTable:
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	data, err := encodeJSON(ret)
	if err != nil {
		return nil, err
	}
	hs := &HealthStatus{}
	if err := json.Unmarshal(data, hs); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Value == "array" {
			return &HealthStatus{}, nil // an empty table encodes as []
		}
		return nil, err
	}
	if !validStatus[hs.Status] {
		return &HealthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return hs, nil
}

// run prepares the state as Argo CD does and runs script in it; the caller closes the state.
func (vm VM) run(obj *unstructured.Unstructured, script string) (*lua.LState, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !vm.UseOpenLibs})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			l.Close()
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)

	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, obj.Object))

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = "" // Argo CD shows the error without Lua's stack trace
		err = apiErr
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// safeOsFuncs are the two functions of Argo CD's safe os library, os.time and os.date. Argo CD
// copies them from gopher-lua's os library; here they are taken from it.
var safeOsFuncs = func() map[string]lua.LGFunction {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	l.Push(l.NewFunction(lua.OpenOs))
	l.Call(0, 1)
	mod := l.Get(-1).(*lua.LTable)
	out := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		out[name] = mod.RawGetString(name).(*lua.LFunction).GFunction
	}
	return out
}()

// openSafeOs is Argo CD's OpenSafeOs, which registers its functions under the table library's
// name: the table library is open by then, so it changes nothing, and the global os stays unset
// unless UseOpenLibs opened gopher-lua's own. Only require("os") reaches the safe library.
func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.TabLibName, safeOsFuncs))
	return 1
}

func safeOsLoader(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOsFuncs))
	return 1
}

// decodeValue is Argo CD's decodeValue: an object's JSON values as Lua values; json.Number as a
// string, and any other Go type as nil.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// encodeJSON encodes a Lua value as layeh.com/gopher-json's Encode does, which Argo CD uses: an
// empty table is [], a table whose first key is a number must be the array 1..n, one whose
// first key is a string must have only string keys, and a table met twice is an error.
func encodeJSON(v lua.LValue) ([]byte, error) {
	visited := map[*lua.LTable]bool{}
	var conv func(lua.LValue) (any, error)
	conv = func(v lua.LValue) (any, error) {
		switch x := v.(type) {
		case lua.LBool:
			return bool(x), nil
		case lua.LNumber:
			return float64(x), nil
		case *lua.LNilType:
			return nil, nil
		case lua.LString:
			return string(x), nil
		case *lua.LTable:
			if visited[x] {
				return nil, errors.New("cannot encode recursively nested tables to JSON")
			}
			visited[x] = true
			key, value := x.Next(lua.LNil)
			switch key.Type() {
			case lua.LTNil:
				return []any{}, nil
			case lua.LTNumber:
				arr := []any{}
				for want := lua.LNumber(1); key != lua.LNil; want++ {
					if key.Type() != lua.LTNumber {
						return nil, errors.New("cannot encode mixed or invalid key types")
					}
					if key != want {
						return nil, errors.New("cannot encode sparse array")
					}
					e, err := conv(value)
					if err != nil {
						return nil, err
					}
					arr = append(arr, e)
					key, value = x.Next(key)
				}
				return arr, nil
			case lua.LTString:
				obj := map[string]any{}
				for key != lua.LNil {
					if key.Type() != lua.LTString {
						return nil, errors.New("cannot encode mixed or invalid key types")
					}
					e, err := conv(value)
					if err != nil {
						return nil, err
					}
					obj[key.String()] = e
					key, value = x.Next(key)
				}
				return obj, nil
			}
			return nil, errors.New("cannot encode mixed or invalid key types")
		}
		return nil, fmt.Errorf("cannot encode %s to JSON", v.Type())
	}
	out, err := conv(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Override is what argocd-cm says about one group/kind's health.
type Override struct {
	HealthLua   string
	UseOpenLibs bool
}

// OverridesFromConfigMap reads the health customizations of argocd-cm's data as Argo CD does:
// keys resource.customizations.<type>.<group>_<kind>, keyed group/kind.
func OverridesFromConfigMap(data map[string]string) (map[string]Override, error) {
	out := map[string]Override{}
	for k, v := range data {
		if !strings.HasPrefix(k, "resource.customizations") {
			continue
		}
		parts := strings.SplitN(k, ".", 4)
		if len(parts) < 4 {
			continue
		}
		key, err := overrideKey(parts[3])
		if err != nil {
			return nil, err
		}
		if key == "all" {
			key = "*/*"
		}
		o := out[key]
		switch parts[2] {
		case "health":
			o.HealthLua = v
		case "useOpenLibs":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, err
			}
			o.UseOpenLibs = b
		case "actions", "ignoreDifferences", "ignoreResourceUpdates", "knownTypeFields":
			// not about health
		default:
			return nil, fmt.Errorf("resource customization type %s not supported", parts[2])
		}
		out[key] = o
	}
	return out, nil
}

func overrideKey(groupKind string) (string, error) {
	parts := strings.Split(groupKind, "_")
	switch {
	case len(parts) == 2:
		return parts[0] + "/" + parts[1], nil
	case len(parts) == 1 && groupKind != "":
		return groupKind, nil
	}
	return "", fmt.Errorf("group kind should be in format `resource.customizations.<type>.<group_kind>` or resource.customizations.<type>.<kind>`, got group kind: '%s'", groupKind)
}

// ConfigMapKey is the key Argo CD looks a kind's customizations up by: group/kind.
func ConfigMapKey(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	if gvk.Group == "" {
		return gvk.Kind
	}
	return gvk.Group + "/" + gvk.Kind
}
