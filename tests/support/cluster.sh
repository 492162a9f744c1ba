#!/usr/bin/env bash
# The ctest fixture "pg": one throwaway cluster shared by the script suites.
#   cluster.sh start WEIR DIR   (re)starts it, removing what a killed run left in DIR
#   cluster.sh stop WEIR DIR
set -euo pipefail
action=$1 weir=$2 dir=$3
case $action in
  start)
    if [ -e "$dir" ]; then "$weir" pg stop "$dir" 2>/dev/null || rm -rf "$dir"; fi
    "$weir" pg start --dir "$dir" ;;
  stop)
    "$weir" pg stop "$dir" ;;
esac
