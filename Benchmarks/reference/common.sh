# Sourced by the comparison scripts: the shared workload defaults and how each side is built.
# Expects `here` (this directory) and `root` (the repository) to be set by the caller.

NUM="${NUM:-1000000}"
KEY_SIZE="${KEY_SIZE:-16}"
VALUE_SIZE="${VALUE_SIZE:-100}"
SEED="${SEED:-301}"

# Sets KVLAB to a release kvlab, building it unless KVLAB is given.
build_kvlab() {
    if [[ -z "${KVLAB:-}" ]]; then
        echo "building kvlab (release)..." >&2
        (cd "$root" && swift build -c release --product kvlab) >&2
        KVLAB="$root/.build/release/kvlab"
    fi
}

# build_reference NAME COMPILER SOURCE [LIBS...]: builds bin/NAME from SOURCE, prints its path.
build_reference() {
    local name="$1" compiler="$2" source="$3"
    shift 3
    echo "building $name..." >&2
    mkdir -p "$here/bin"
    $compiler -O2 -o "$here/bin/$name" "$here/$source" "$@" >&2
    echo "$here/bin/$name"
}
