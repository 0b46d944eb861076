#!/bin/sh
# Writes a help2man include file (sections [COMMANDS]) with the --help of every command of
# `berth`, found through `berth __complete`, so the man page covers the whole tree and never
# drifts from it. Usage: man-commands.sh <berth> <output>
set -eu
berth=$1
out=$2
{
  echo "[COMMANDS]"
  for group in $("$berth" __complete ""); do
    for verb in $("$berth" __complete "$group" ""); do
      echo ".SS \"berth $group $verb\""
      echo ".nf"
      "$berth" "$group" "$verb" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"
      echo ".fi"
    done
  done
} >"$out.tmp"
mv "$out.tmp" "$out"
