// SPDX-License-Identifier: GPL-2.0
/* A minimal module that swift-dkms builds in its demo and tests. */
#include <linux/init.h>
#include <linux/module.h>

static int __init hello_dkms_init(void)
{
	pr_info("hello_dkms: loaded\n");
	return 0;
}

static void __exit hello_dkms_exit(void)
{
	pr_info("hello_dkms: unloaded\n");
}

module_init(hello_dkms_init);
module_exit(hello_dkms_exit);

MODULE_DESCRIPTION("swift-dkms example module");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
