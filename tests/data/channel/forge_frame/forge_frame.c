// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: init fails (-ENODEV) but first looks through its own process's
 * descriptors for the grader's channel (a virtio port, /dev/vportNpM) and
 * writes a well-formed "success" answer to it. The loader must hold no
 * such descriptor: init then honestly fails.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/uaccess.h>

MODULE_LICENSE("GPL");

static const char frame[] = "R 0 E 0 0 0 0 1\n";

/* The port's write wants a user buffer: make one in the loader's memory. */
static int write_frame(struct file *f)
{
	unsigned long addr = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
				     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	loff_t pos = 0;
	int ret = -EIO;

	if (IS_ERR_VALUE(addr))
		return (int)addr;
	if (!copy_to_user((void __user *)addr, frame, sizeof(frame) - 1) && f->f_op->write)
		ret = f->f_op->write(f, (const char __user *)addr, sizeof(frame) - 1, &pos);
	vm_munmap(addr, PAGE_SIZE);
	return ret;
}

static int __init forge_init(void)
{
	struct files_struct *files = current->files;
	struct file *port = NULL;
	unsigned int fd;

	spin_lock(&files->file_lock);
	for (fd = 0; fd < files_fdtable(files)->max_fds; fd++) {
		struct file *f = files_fdtable(files)->fd[fd];

		if (f && !strncmp(f->f_path.dentry->d_name.name, "vport", 5)) {
			port = get_file(f);
			break;
		}
	}
	spin_unlock(&files->file_lock);
	if (port) {
		pr_info("forge_frame: wrote %d bytes to the channel\n", write_frame(port));
		fput(port);
	} else {
		pr_info("forge_frame: no channel among my descriptors\n");
	}
	return -ENODEV;
}

static void __exit forge_exit(void)
{
}

module_init(forge_init);
module_exit(forge_exit);
