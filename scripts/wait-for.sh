# Sourced by the scripts here: wait_for FILE TEXT, up to 5 s (100 x 50 ms)
# until FILE contains TEXT; otherwise show FILE and exit 1. Set `prog` to the
# script's name first, for the message.
wait_for() {
    local file=$1 text=$2
    for _ in $(seq 100); do
        grep -q -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "${prog:-$0}: gave up waiting for '$text' in $file:" >&2
    cat "$file" >&2
    exit 1
}
