// SPDX-License-Identifier: GPL-2.0
/* Correct: a network device (allocated, then registered) that drops what it is given. */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>

static struct net_device *ndev;

static netdev_tx_t net_ok_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops net_ok_ops = { .ndo_start_xmit = net_ok_xmit };

static void net_ok_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &net_ok_ops;
	eth_hw_addr_random(dev);
}

static int __init net_ok_init(void)
{
	int ret;

	ndev = alloc_netdev(0, "kfiok%d", NET_NAME_UNKNOWN, net_ok_setup);
	if (!ndev)
		return -ENOMEM;
	ret = register_netdev(ndev);
	if (ret) {
		free_netdev(ndev);
		return ret;
	}
	return 0;
}

static void __exit net_ok_exit(void)
{
	unregister_netdev(ndev);
	free_netdev(ndev);
}

module_init(net_ok_init);
module_exit(net_ok_exit);
MODULE_LICENSE("GPL");
