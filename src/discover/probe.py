import sys
sys.path=[p for p in sys.path if p]
import os
v=sys.version_info
s="%d.%d.%d"%tuple(v[:3])
if v[3]!="final":s+={"alpha":"a","beta":"b","candidate":"rc"}.get(v[3],"")+str(v[4])
i=getattr(sys,"implementation",None)
i=i.name if i else"pypy"if"__pypy__"in sys.builtin_module_names else"cpython"
f=["beep-probe-1",i,s,os.uname()[4]if hasattr(os,"uname")else __import__("platform").machine()]
if v[0]<3:sys.stdout.write("\0".join(f));sys.exit()
import site
from importlib.machinery import PathFinder as F
j=os.path.join
e=os.path.dirname(os.path.abspath(sys.executable))
p=os.path.dirname(e)
c=[j(d,"pyvenv.cfg")for d in(e,p)if os.path.isfile(j(d,"pyvenv.cfg"))]
b=getattr(sys,"real_prefix",None)or getattr(sys,"base_prefix",sys.prefix)
if c:
 g=[l.partition("=")[2].strip().lower()for l in open(c[0],encoding="utf-8")if l.partition("=")[0].strip().lower()=="include-system-site-packages"]
 d=site.getsitepackages([p]+[b]*(g[-1:]==["true"]))
else:p=sys.prefix;d=site.getsitepackages([p]+[b]*(p!=b))
l=getattr(sys,"_stdlib_dir",None)or os.path.dirname(os.__file__)
t=lambda x:"1"if x else"0"
f+=[p,b,t(c or p!=b),t(F.find_spec("pip",d)),t(F.find_spec("ensurepip")),t(F.find_spec("venv")),t(os.path.isfile(j(l,"EXTERNALLY-MANAGED"))),l]+d
sys.stdout.buffer.write(b"\0".join(map(os.fsencode,f)))
