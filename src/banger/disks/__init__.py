"""banger.disks"""
