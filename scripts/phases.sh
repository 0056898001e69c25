# Phase timing for the test scripts (sourced, not run). `phase NAME` ends the current phase and
# starts NAME (printing "== NAME (HH:MM:SS)"); `phase_end` ends it. Each finished phase is appended
# as "NAME<TAB>SECONDS" to $SEMISEG_PHASES when it is set, so scripts/test.sh collects the phases
# of the scripts it calls (browser_test.sh, build_web.sh) and prints one table (phase_table).
_phase_name=
_phase_t0=0
phase_end() {
  if [ -n "$_phase_name" ]; then
    if [ -n "${SEMISEG_PHASES:-}" ]; then
      printf '%s\t%s\n' "$_phase_name" $(($(date +%s) - _phase_t0)) >>"$SEMISEG_PHASES"
    fi
    _phase_name=
  fi
}
phase() {
  phase_end
  _phase_name=$1
  _phase_t0=$(date +%s)
  printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}
# phase_table FILE TOTAL_SECONDS [BACKGROUND_FILE]: the recorded phases as an aligned table with
# minutes and seconds, then the total (the whole script's wall time, so time between phases is
# counted too), then the phases that ran in the background beside the others (not in the total).
phase_table() {
  awk -F '\t' -v total="$2" '
    function hms(s) { return sprintf("%d:%02d", int(s / 60), s % 60) }
    FNR == 1 { file++ }
    file == 1 { name[NR] = $1; secs[NR] = $2; sum += $2; n = NR }
    file == 2 { bname[++m] = $1 " (in the background)"; bsecs[m] = $2; $1 = bname[m] }
    { if (length($1) > w) w = length($1) }
    END {
      if (w < 16) w = 16
      printf "%-" w "s  %8s  %6s\n", "phase", "seconds", "min:s"
      for (i = 1; i <= n; i++) printf "%-" w "s  %8d  %6s\n", name[i], secs[i], hms(secs[i])
      if (total > sum) printf "%-" w "s  %8d  %6s\n", "(between phases)", total - sum, hms(total - sum)
      printf "%-" w "s  %8d  %6s\n", "total", total, hms(total)
      for (i = 1; i <= m; i++) printf "%-" w "s  %8d  %6s\n", bname[i], bsecs[i], hms(bsecs[i])
    }' "$1" "${3:-/dev/null}"
}
