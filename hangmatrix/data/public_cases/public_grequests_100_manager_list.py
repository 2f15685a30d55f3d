# hangmatrix: what = importing grequests (patch_all at import time) then creating a multiprocessing Manager().list()
# hangmatrix: source = https://github.com/spyoungtech/grequests/issues/100
# hangmatrix: reported = Traceback ending "IOError: [Errno 11] Resource temporarily unavailable" in answer_challenge (reporter narfman0, Python 2.7; "I'd guess some conflicting patching. I dumped grequests and it works.")
# hangmatrix: requires = grequests
import grequests
from multiprocessing import Manager
Manager().list()
