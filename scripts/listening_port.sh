# Sourced by the measuring scripts: `listening_port LOG` waits (up to 5 s) for the server
# writing to LOG to print its `127.0.0.1:PORT` listening address, and prints PORT; it
# fails, saying so on stderr, when none appears.
listening_port() {
  local log=$1 port
  for _ in $(seq 50); do
    grep -qE '127\.0\.0\.1:[0-9]+' "$log" && break
    sleep 0.1
  done
  port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 | cut -d: -f2)
  if [ -z "$port" ]; then
    echo "the server printed no 127.0.0.1:PORT address (its output: $log)" >&2
    return 1
  fi
  echo "$port"
}
