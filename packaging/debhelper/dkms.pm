#!/usr/bin/perl
# debhelper sequence addon of swift-dkms: `dh $@ --with dkms` (or a
# Build-Depends on dh-sequence-dkms) runs dh_dkms just before
# dh_installinit, so the module source and its maintainer-script snippets
# are in place when the package is assembled.
use strict;
use warnings;
use Debian::Debhelper::Dh_Lib;

insert_before('dh_installinit', 'dh_dkms');

1;
