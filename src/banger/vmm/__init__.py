"""banger.vmm"""
