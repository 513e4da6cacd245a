// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile: init fails (-ENODEV) but first takes the grader's channel from
 * the agent itself (PID 1's descriptor table, which no closing in the
 * loader can hide) and writes a forged "success" answer to it. The host
 * must refuse the frame (wrong id, unasked) and flag the submission.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/string.h>
#include <linux/uaccess.h>

MODULE_LICENSE("GPL");

static const char frame[] = "R 0 E 0 0 0 0 1\n";

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

static struct file *port_of(struct task_struct *task)
{
	struct file *port = NULL;
	struct files_struct *files;
	unsigned int fd;

	task_lock(task);
	files = task->files;
	if (files) {
		spin_lock(&files->file_lock);
		for (fd = 0; fd < files_fdtable(files)->max_fds; fd++) {
			struct file *f = files_fdtable(files)->fd[fd];

			if (f && !strncmp(f->f_path.dentry->d_name.name, "vport", 5)) {
				port = get_file(f);
				break;
			}
		}
		spin_unlock(&files->file_lock);
	}
	task_unlock(task);
	return port;
}

static int __init forge_init(void)
{
	struct task_struct *agent;
	struct file *port = NULL;

	rcu_read_lock();
	agent = pid_task(find_vpid(1), PIDTYPE_PID);
	if (agent)
		get_task_struct(agent);
	rcu_read_unlock();
	if (agent) {
		port = port_of(agent);
		put_task_struct(agent);
	}
	if (port) {
		pr_info("forge_from_init: wrote %d bytes to the channel\n", write_frame(port));
		fput(port);
	}
	return -ENODEV;
}

static void __exit forge_exit(void)
{
}

module_init(forge_init);
module_exit(forge_exit);
