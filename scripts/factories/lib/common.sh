# shellcheck shell=bash
# Shared by the p3s pilot factories (sourced, never run). Callers set PROG and JSON before use.

FACTORY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JSON=${JSON:-0}

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

usage_error() {
  printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
  exit 2
}

# Human-readable progress: stdout normally, stderr with --json (stdout is then JSON only).
note() {
  if [ "$JSON" = 1 ]; then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi
}

warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }

# need_arg OPTION "$#": an option that takes a value must have one.
need_arg() { [ "$2" -ge 2 ] || usage_error "$1 needs a value"; }

is_count() { [[ $1 =~ ^[0-9]+$ ]] && [ "$((10#$1))" -ge "${2:-1}" ]; }

abs_path() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "${1#./}" ;;
  esac
}

# One word for a POSIX shell, quoted only if it needs to be: it's -> 'it'\''s'. Used for anything
# that a batch or remote shell parses again.
squote() {
  local q="'\\''"
  if [[ $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/$q}"
  fi
}

# squote_all WORD...: the words, each quoted, separated by spaces.
squote_all() {
  local out='' w
  for w in "$@"; do out+="${out:+ }$(squote "$w")"; done
  printf '%s' "$out"
}

# JSON without jq: a string (backslash, quote and the usual control characters escaped), an array.
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

json_arr() {
  local out='' w
  for w in "$@"; do out+="${out:+,}$(json_str "$w")"; done
  printf '[%s]' "$out"
}

default_server() { printf '%s\n' "${P3S_SERVER:-http://127.0.0.1:8080}"; }
default_pilot_token_file() { abs_path "${P3S_HOME:-.p3s}/pilot.token"; }

# The pilot bundle next to these scripts in a checkout (npm run build:pilot), if it was built.
default_pilot() {
  local p
  p=$(cd "$FACTORY_DIR/../.." && pwd)/dist/p3s-pilot.mjs
  [ -f "$p" ] && printf '%s\n' "$p"
}

# A token must reach the pilot through a file, never a command line (ps shows command lines).
check_token_file() {
  local f=$1 mode
  [ -f "$f" ] || die "no pilot token file $f (pass --token-file; npm start writes \$P3S_HOME/pilot.token)"
  [ -r "$f" ] || die "pilot token file $f is not readable"
  [ -s "$f" ] || die "pilot token file $f is empty"
  mode=$(stat -c '%a' "$f" 2>/dev/null) || return 0
  if [ $((8#$mode & 8#077)) -ne 0 ]; then
    warn "pilot token file $f can be read by others (mode $mode): chmod 600 $f"
  fi
}

check_site() {
  [[ $1 =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || usage_error "--site must be 1-64 characters of letters, digits, _ . -"
}

# topup TARGET SERVER SITE API_TOKEN_FILE < "<batch id> <pending|running>" lines
# Sets TOPUP_COUNT, TOPUP_JSON and TOPUP_TEXT (lib/topup.mjs says how it counts).
topup() {
  local args=(--server "$2" --target "$1")
  [ -n "$3" ] && args+=(--site "$3")
  [ -n "$4" ] && args+=(--token-file "$4")
  command -v node >/dev/null 2>&1 || die "--target needs node (to ask the p3s API for live pilots)"
  local out
  out=$(node "$FACTORY_DIR/lib/topup.mjs" "${args[@]}") || exit 1
  # shellcheck disable=SC2034 # read by the factories
  { read -r TOPUP_COUNT && read -r TOPUP_JSON && read -r TOPUP_TEXT; } <<<"$out"
  is_count "$TOPUP_COUNT" 0 || die "top-up: unexpected answer: $out"
}

# The token for API reads in --target mode: --api-token-file, else $P3S_TOKEN, else the CLI's
# $P3S_HOME/admin.token. A viewer token is enough and is the one to use.
default_api_token_file() {
  [ -n "${P3S_TOKEN:-}" ] && return 0
  abs_path "${P3S_HOME:-.p3s}/admin.token"
}
